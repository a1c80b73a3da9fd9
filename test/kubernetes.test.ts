/**
 * deploy/kubernetes/: every document is a valid Kubernetes object (the OpenAPI schemas that
 * kubernetes-models bundles, offline, plus a strict pass that refuses fields the schema does not
 * know), and the manifests agree with the service: probe paths and ports, the shutdown timing, the
 * environment variables, the labels between the objects, the migration command, the sizing.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import * as models from "kubernetes-models";
import * as v from "valibot";
import { loadConfig } from "../src/config/config.ts";
import { EnvSchema } from "../src/config/env-schema.ts";
import { useServers } from "./helpers.ts";

const ROOT = join(import.meta.dir, "..");
const DIR = join(ROOT, "deploy", "kubernetes");

type EnvVar = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } } };
type Probe = { httpGet?: { path: string; port: string | number } };
type Container = {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: EnvVar[];
  readinessProbe?: Probe & { periodSeconds?: number; failureThreshold?: number };
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: unknown; httpGet?: unknown } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
};
type PodTemplate = {
  metadata: { labels: Record<string, string> };
  spec: { containers: Container[]; terminationGracePeriodSeconds?: number; restartPolicy?: string };
};
type Doc = { apiVersion: string; kind: string; metadata: { name: string }; spec: any };
type Manifest = { file: string; doc: Doc };

/** Every document of every YAML file of the folder (a file may hold several, separated by ---). */
function readManifests(): Manifest[] {
  const files = readdirSync(DIR)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort();
  return files.flatMap((file) => {
    const parsed = Bun.YAML.parse(readFileSync(join(DIR, file), "utf8"));
    const docs = (Array.isArray(parsed) ? parsed : [parsed]).filter((d) => d !== null);
    return docs.map((doc) => ({ file, doc: doc as Doc }));
  });
}

const manifests = readManifests();
const one = (kind: string): Doc => {
  const found = manifests.filter((m) => m.doc.kind === kind);
  if (found.length !== 1) throw new Error(`deploy/kubernetes/ has ${found.length} ${kind} documents, not 1`);
  return found[0]!.doc;
};
const deployment = one("Deployment");
const service = one("Service");
const pdb = one("PodDisruptionBudget");
const hpa = one("HorizontalPodAutoscaler");
const job = one("Job");
const podOf = (doc: Doc) => doc.spec.template as PodTemplate;
const chat = podOf(deployment).spec.containers[0]!;
const migrateContainer = podOf(job).spec.containers[0]!;

type ModelClass = { prototype: { validate(): void } };

/** kubernetes-models' class for an apiVersion and kind: "apps/v1" is models.apps.v1, "v1" models.v1, "networking.k8s.io/v1" models.networkingK8sIo.v1. */
function modelOf(apiVersion: string, kind: string): ModelClass {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : [null, apiVersion];
  const byGroup = models as unknown as Record<string, Record<string, Record<string, ModelClass>>>;
  const ns =
    group === null ? (byGroup as unknown as Record<string, Record<string, ModelClass>>)[version!] : byGroup[camel(group)]?.[version!];
  const model = ns?.[kind];
  if (!model) throw new Error(`no schema for ${apiVersion} ${kind}`);
  return model;
}
const camel = (group: string) => group.replace(/\.(\w)/g, (_, c: string) => c.toUpperCase());

/**
 * Validates a document against its schema (throws on a wrong type, a missing required field, an
 * unknown kind) and returns the fields the schema does not know (as `kubectl apply`'s strict field
 * validation would refuse them). The OpenAPI schemas do not forbid extra properties, so the document
 * is validated through proxies that record which fields the schema's validator reads: a field it
 * never reads is one it has no definition for. Only the outermost unknown field is reported.
 */
function validate(doc: Doc): string[] {
  const unread = new Set<string>();
  const tracked = (value: unknown, path: string): unknown => {
    if (Array.isArray(value)) return value.map((item, i) => tracked(item, `${path}[${i}]`));
    if (value === null || typeof value !== "object") return value;
    const copy = Object.fromEntries(Object.entries(value).map(([k, item]) => [k, tracked(item, `${path}.${k}`)]));
    for (const key of Object.keys(copy)) unread.add(`${path}.${key}`);
    const seen = (key: string | symbol) => typeof key === "string" && unread.delete(`${path}.${key}`);
    return new Proxy(copy, {
      get(target, key, receiver) {
        seen(key);
        return Reflect.get(target, key, receiver);
      },
      has(target, key) {
        seen(key);
        return Reflect.has(target, key);
      },
    });
  };
  modelOf(doc.apiVersion, doc.kind).prototype.validate.call(tracked(doc, ""));
  return [...unread].filter((path) => ![...unread].some((other) => path.startsWith(`${other}.`) || path.startsWith(`${other}[`))).sort();
}

const clone = <T>(x: T): T => structuredClone(x);

describe("deploy/kubernetes: the schema check", () => {
  test("every document of every manifest is valid against the Kubernetes schemas, with no unknown field", () => {
    expect(new Set(manifests.map((m) => m.file)).size).toBeGreaterThanOrEqual(5);
    // Offline: the schemas are compiled into the package; a fetch would throw here.
    const realFetch = globalThis.fetch;
    globalThis.fetch = (() => {
      throw new Error("the schema check must not fetch");
    }) as unknown as typeof fetch;
    try {
      for (const { file, doc } of manifests) {
        expect({ file, kind: doc.kind, unknown: validate(doc) }).toEqual({ file, kind: doc.kind, unknown: [] });
      }
    } finally {
      globalThis.fetch = realFetch;
    }
  });

  test("the check fails on broken copies: a wrong type, a missing required field, an unknown field, an unknown kind", () => {
    const wrongType = clone(deployment);
    wrongType.spec.template.spec.containers[0].ports[0].containerPort = "8000";
    expect(() => validate(wrongType)).toThrow("containerPort must be integer");

    const noSelector = clone(deployment);
    delete noSelector.spec.selector;
    expect(() => validate(noSelector)).toThrow("must have required property selector");

    const noTarget = clone(hpa);
    delete noTarget.spec.scaleTargetRef;
    expect(() => validate(noTarget)).toThrow("must have required property scaleTargetRef");

    const noContainerName = clone(job);
    delete noContainerName.spec.template.spec.containers[0].name;
    expect(() => validate(noContainerName)).toThrow("must have required property name");

    const typo = clone(deployment);
    const container = typo.spec.template.spec.containers[0];
    container.readinesProbe = container.readinessProbe;
    delete container.readinessProbe;
    expect(validate(typo)).toEqual([".spec.template.spec.containers[0].readinesProbe"]);

    expect(() => validate({ ...clone(pdb), apiVersion: "policy/v1beta7" })).toThrow("no schema for policy/v1beta7");
  });
});

const envOf = (container: Container) => container.env ?? [];
const literalEnv = (container: Container) =>
  Object.fromEntries(envOf(container).flatMap((e) => (e.value === undefined ? [] : [[e.name, e.value]]))) as Record<string, string>;
/** A manifest's setting, or the schema's default when the manifest leaves it unset. */
const setting = (container: Container, name: keyof typeof EnvSchema.entries) =>
  literalEnv(container)[name] ?? String(v.getDefault(EnvSchema.entries[name] as v.GenericSchema));
/** Plausible values for the variables the manifests take from the Secret. */
const SECRET_SAMPLES: Record<string, string> = {
  DATABASE_URL: "postgres://chat:password@postgres:5432/sendbuddy",
  REDIS_URL: "redis://:password@redis:6379",
  JWT_SECRET: "a-signing-key-of-at-least-32-characters",
  SERVER_API_KEY: "a-server-api-key-of-at-least-32-characters",
};
const fullEnv = (container: Container) => ({
  ...literalEnv(container),
  ...Object.fromEntries(envOf(container).flatMap((e) => (e.valueFrom?.secretKeyRef ? [[e.name, SECRET_SAMPLES[e.name]!]] : []))),
});

/** The container port a probe or a Service's targetPort names (by name or by number). */
function containerPort(container: Container, port: string | number): number | undefined {
  return typeof port === "number"
    ? container.ports?.find((p) => p.containerPort === port)?.containerPort
    : container.ports?.find((p) => p.name === port)?.containerPort;
}

/** Kubernetes quantities: "500m" and "1" cores, "512Mi" and "1G" bytes. */
function quantity(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (!m) throw new Error(`unparsed quantity ${q}`);
  const unit = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2] ?? ""] ?? 1;
  return Number(m[1]) * unit;
}

/** The Dockerfile's ENTRYPOINT, which a container's args follow when it sets no command. */
const ENTRYPOINT = JSON.parse(/^ENTRYPOINT (\[.*\])$/m.exec(readFileSync(join(ROOT, "Dockerfile"), "utf8"))![1]!) as string[];
const argvOf = (container: Container) => [...(container.command ?? ENTRYPOINT), ...(container.args ?? [])];

const servers = useServers();

describe("deploy/kubernetes: the manifests agree with the service", () => {
  test("the probes ask the app's /readyz and /healthz on the container port that is PORT, and the app answers them 200", async () => {
    expect(chat.readinessProbe?.httpGet?.path).toBe("/readyz");
    expect(chat.livenessProbe?.httpGet?.path).toBe("/healthz");
    const port = Number(setting(chat, "PORT"));
    expect(containerPort(chat, chat.readinessProbe!.httpGet!.port)).toBe(port);
    expect(containerPort(chat, chat.livenessProbe!.httpGet!.port)).toBe(port);
    // The server started with the Deployment's own settings (on a test port, without the drain delay).
    const app = await servers.start({ shutdownDelayMs: 0 }, literalEnv(chat));
    for (const path of ["/readyz", "/healthz"]) {
      const res = await fetch(`${app.httpUrl}${path}`);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
    }
  });

  test("a preStop sleep, and terminationGracePeriodSeconds outlasts it + SHUTDOWN_DELAY_SECONDS + SHUTDOWN_TIMEOUT_MS; readiness fails within the delay", () => {
    const preStop = chat.lifecycle?.preStop;
    // A plain sleep (a preStop exec or HTTP call has no duration this test can add up).
    expect(preStop?.sleep !== undefined && !preStop.exec && !preStop.httpGet).toBe(true);
    expect(preStop!.sleep!.seconds).toBeGreaterThan(0);
    const delay = Number(setting(chat, "SHUTDOWN_DELAY_SECONDS"));
    const timeout = Number(setting(chat, "SHUTDOWN_TIMEOUT_MS")) / 1000;
    const grace = podOf(deployment).spec.terminationGracePeriodSeconds ?? 30;
    expect(delay).toBeGreaterThan(0);
    expect(grace).toBeGreaterThan((preStop?.sleep?.seconds ?? 0) + delay + timeout);
    const readiness = chat.readinessProbe!;
    expect((readiness.periodSeconds ?? 10) * (readiness.failureThreshold ?? 3)).toBeLessThanOrEqual(delay);
  });

  test("every variable the manifests set is one the configuration schema reads, and the values load as the server and migrate load them", () => {
    const read = Object.keys(EnvSchema.entries);
    for (const { file, doc } of manifests.filter((m) => m.doc.spec?.template)) {
      for (const container of podOf(doc).spec.containers) {
        for (const { name, valueFrom } of envOf(container)) {
          expect({ file, name, read: read.includes(name) }).toEqual({ file, name, read: true });
          // Secrets come from the one Secret, under the variable's own name.
          if (valueFrom) expect({ name, ref: valueFrom.secretKeyRef }).toMatchObject({ name, ref: { name: "sendbuddy-chat", key: name } });
        }
      }
    }
    const required = envOf(chat)
      .filter((e) => e.valueFrom?.secretKeyRef && !e.valueFrom.secretKeyRef.optional)
      .map((e) => e.name);
    expect(required.sort()).toEqual(["DATABASE_URL", "JWT_SECRET", "REDIS_URL"]);
    expect(literalEnv(chat).MIGRATE_ON_START).toBe("false");
    const server = loadConfig(fullEnv(chat), { requireKey: true });
    expect({ env: server.env, migrateOnStart: server.migrateOnStart }).toEqual({ env: "production", migrateOnStart: false });
    expect(loadConfig(fullEnv(migrateContainer), { requireKey: false }).databaseUrl).toBe(SECRET_SAMPLES.DATABASE_URL!);
  });

  test("the Service, the PodDisruptionBudget and the HorizontalPodAutoscaler find the Deployment's pods, and only them", () => {
    const selector = deployment.spec.selector.matchLabels as Record<string, string>;
    const labels = podOf(deployment).metadata.labels;
    expect(labels).toMatchObject(selector);
    expect(service.spec.selector).toEqual(selector);
    expect(pdb.spec.selector).toEqual({ matchLabels: selector });
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata.name });
    // The migration Job's pod is not a chat instance: neither the Service nor the budget counts it.
    const jobLabels = podOf(job).metadata.labels;
    expect(Object.entries(selector).every(([k, value]) => jobLabels[k] === value)).toBe(false);
    // The Service reaches the container's PORT.
    for (const port of service.spec.ports as { targetPort: string | number }[])
      expect(containerPort(chat, port.targetPort)).toBe(Number(setting(chat, "PORT")));
  });

  test("the HorizontalPodAutoscaler scales on CPU, which the container requests", () => {
    expect(hpa.apiVersion).toBe("autoscaling/v2");
    expect(hpa.spec.metrics).toEqual([
      { type: "Resource", resource: { name: "cpu", target: { type: "Utilization", averageUtilization: expect.any(Number) } } },
    ]);
    expect(quantity(chat.resources!.requests!.cpu!)).toBeGreaterThan(0);
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(deployment.spec.replicas).toBeUndefined(); // the autoscaler owns the count
  });

  test("the Job runs the binary's migrate command (package.json's `bun run migrate`) once, with the Deployment's image", () => {
    const pkg = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts;
    expect(pkg.migrate).toBe("bun src/main.ts migrate");
    expect(readFileSync(join(ROOT, "src", "main.ts"), "utf8")).toContain('case "migrate":');
    expect(argvOf(migrateContainer)).toEqual([ENTRYPOINT[0]!, "migrate"]);
    expect(argvOf(chat)).toEqual([ENTRYPOINT[0]!, "serve"]);
    expect(podOf(job).spec.restartPolicy).toBe("Never");
    expect(job.spec.completions ?? 1).toBe(1);
    expect(job.spec.parallelism ?? 1).toBe(1);
    expect(migrateContainer.image).toBe(chat.image);
  });

  test("resources are sized from docs/scaling.md's figures, quoted in the manifest", () => {
    // Quotes may wrap across lines, in Markdown and in YAML comments.
    const flat = (text: string) => text.replace(/\n\s*#?/g, " ").replace(/\s+/g, " ");
    const scaling = flat(readFileSync(join(ROOT, "docs", "scaling.md"), "utf8"));
    const yaml = flat(readFileSync(join(DIR, "deployment.yaml"), "utf8"));
    for (const quote of ["35,000 sockets (6 KB each: ~210 MB)", "the server used 54 % of a core at that step"]) {
      expect({ quote, inScaling: scaling.includes(quote), inManifest: yaml.includes(`"${quote}"`) }).toEqual({
        quote,
        inScaling: true,
        inManifest: true,
      });
    }
    const requests = chat.resources!.requests!;
    const limits = chat.resources!.limits!;
    expect(quantity(requests.memory!)).toBeGreaterThanOrEqual(35_000 * 6 * 1000);
    expect(quantity(limits.memory!)).toBeGreaterThanOrEqual(quantity(requests.memory!));
    expect(quantity(requests.cpu!)).toBeGreaterThanOrEqual(0.54);
    expect(quantity(limits.cpu!)).toBeGreaterThanOrEqual(quantity(requests.cpu!));
    const hpaText = flat(readFileSync(join(DIR, "hpa.yaml"), "utf8"));
    for (const quote of ["2 (for availability", "6 behind the load balancer"])
      expect({ quote, inScaling: scaling.includes(quote), inManifest: hpaText.includes(`"${quote}"`) }).toEqual({
        quote,
        inScaling: true,
        inManifest: true,
      });
    expect({ min: hpa.spec.minReplicas, max: hpa.spec.maxReplicas }).toEqual({ min: 2, max: 6 });
  });
});
