/**
 * Real servers on ephemeral ports, real WebSocket clients, real databases: the suite's toolkit, one
 * concern per module of test/support/ (env, servers, groups, data, clients, wait, fixtures); test files import it here.
 */
export * from "./support/env.ts";
export * from "./support/servers.ts";
export * from "./support/groups.ts";
export * from "./support/data.ts";
export * from "./support/clients.ts";
export * from "./support/wait.ts";
export * from "./support/fixtures.ts";
