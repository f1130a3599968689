/** The agent's version, in adverts and build_info. */
export const AGENT_VERSION = '0.1.0';
