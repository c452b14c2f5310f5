export { createFixtureServer, GROW_TOOL, type FixtureServerOptions, type FixtureEntryOptions } from './server.js';
export { counterUri, createCounters, type Counters } from './counters.js';
export { startFixtureHttp, type FixtureHttpOptions, type FixtureHttpHandle, type RecordedRequest } from './http.js';
export { serveFixtureStdio, type FixtureStdioOptions } from './stdio.js';
export { FIXTURE_TOOLS, LONG_TOOL_NAME, type FixtureTool } from './tools.js';
export { startFixtureSse, type FixtureSseOptions, type FixtureSseHandle } from './sse.js';
