/** @tessera/agent: the GPU agent as a library (the binary is bin/tessera-agent.js). */
export { startAgent, AGENT_VERSION, type AgentHandle } from './main.js';
export { compileAgentOptions, type AgentOptions } from './options.js';
export { detectGpus, parseNvidiaSmi, type GpuInfo, type GpuDetection } from './gpu.js';
