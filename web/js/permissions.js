// Discord's permission algorithm (as Discord clients compute it), on BigInt.
export const PERM = {
  CREATE_INSTANT_INVITE: 1n << 0n,
  KICK_MEMBERS: 1n << 1n,
  ADMINISTRATOR: 1n << 3n,
  MANAGE_CHANNELS: 1n << 4n,
  MANAGE_GUILD: 1n << 5n,
  VIEW_CHANNEL: 1n << 10n,
  SEND_MESSAGES: 1n << 11n,
  MANAGE_MESSAGES: 1n << 13n,
  READ_MESSAGE_HISTORY: 1n << 16n,
  MANAGE_ROLES: 1n << 28n,
};
export const ALL = (1n << 64n) - 1n;

function big(v) {
  try {
    return BigInt(v ?? 0);
  } catch {
    return 0n;
  }
}

/**
 * Guild-level permissions of member (or null when unknown) in guild
 * ({id, owner_id, roles: Map|Array}).
 */
export function basePermissions(guild, userId, member) {
  if (!guild) return 0n;
  if (guild.owner_id === userId) return ALL;
  const roles = guild.roles instanceof Map ? guild.roles : new Map((guild.roles || []).map((r) => [r.id, r]));
  let p = big(roles.get(guild.id)?.permissions);
  for (const rid of member?.roles || []) p |= big(roles.get(rid)?.permissions);
  if (p & PERM.ADMINISTRATOR) return ALL;
  return p;
}

/** Permissions in a channel: base, then @everyone, role and member overwrites. */
export function channelPermissions(guild, channel, userId, member) {
  const base = basePermissions(guild, userId, member);
  if (base === ALL || !channel) return base;
  let p = base;
  const ow = channel.permission_overwrites || [];
  const everyone = ow.find((o) => o.id === guild.id);
  if (everyone) p = (p & ~big(everyone.deny)) | big(everyone.allow);
  let allow = 0n;
  let deny = 0n;
  const mine = new Set(member?.roles || []);
  for (const o of ow) {
    if (Number(o.type) === 0 && o.id !== guild.id && mine.has(o.id)) {
      allow |= big(o.allow);
      deny |= big(o.deny);
    }
  }
  p = (p & ~deny) | allow;
  const own = ow.find((o) => Number(o.type) === 1 && o.id === userId);
  if (own) p = (p & ~big(own.deny)) | big(own.allow);
  return p;
}

export function has(perms, bit) {
  return (perms & bit) === bit;
}
