/**
 * What this build is, and which version of the API's stats code its computations follow:
 * a drift record names the build that made it, so a newly deployed one checks again.
 */

/** package.json's version, put in by the bundler (tools/build.mjs); `dev` when run from the sources. */
declare const STATS_REFRESH_VERSION: string | undefined;
export const VERSION: string = typeof STATS_REFRESH_VERSION === 'string' ? STATS_REFRESH_VERSION : 'dev';

/** The Trends.Earth API commit whose stats code (gefapi/services/stats_service.py, routes/api/v1/stats.py) ours follows. */
export const API_COMMIT = 'd77adda';
/** When that code last changed. */
export const API_COMMIT_DATE = '2026-07-28';

/** `0.1.0 (API stats code d77adda)`: what a drift record names. */
export const BUILD = `${VERSION} (API stats code ${API_COMMIT})`;
