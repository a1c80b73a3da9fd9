// Files imported `with { type: "file" }` resolve to a path that Bun.file() can read, also inside
// the compiled single binary.
declare module "*.wasm" {
  const path: string;
  export default path;
}
declare module "*.data" {
  const path: string;
  export default path;
}
