// Snowflake ids are decimal strings of up to 20 digits: compare them as
// numbers without BigInt on the hot path (shorter = smaller).
export const DISCORD_EPOCH = 1420070400000n;

export function cmpId(a, b) {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Milliseconds since the Unix epoch at which the snowflake was made. */
export function idToMs(id) {
  return Number((BigInt(id) >> 22n) + DISCORD_EPOCH);
}

let nonceCounter = 0;
/** A snowflake-shaped nonce for "now" (as Discord clients send: ≤ 25 characters). */
export function makeNonce() {
  nonceCounter = (nonceCounter + 1) & 0xfff;
  const ms = BigInt(Date.now()) - DISCORD_EPOCH;
  const rand = BigInt(Math.floor(Math.random() * 1024));
  return ((ms << 22n) | (rand << 12n) | BigInt(nonceCounter)).toString();
}
