// Timestamps as people read them: "Today at 14:03", "Yesterday at 09:12",
// "12/03/2025 14:03"; full date in the title.
const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dateFmt = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: '2-digit', day: '2-digit' });
const dayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

function startOfDay(d) {
  return new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
}

export function sameDay(a, b) {
  return startOfDay(new Date(a)) === startOfDay(new Date(b));
}

export function shortTime(ms) {
  return timeFmt.format(new Date(ms));
}

export function fullTime(ms) {
  return fullFmt.format(new Date(ms));
}

export function dayLabel(ms) {
  return dayFmt.format(new Date(ms));
}

export function calendarTime(ms, now = Date.now()) {
  const d = new Date(ms);
  const days = Math.round((startOfDay(new Date(now)) - startOfDay(d)) / 86400000);
  if (days === 0) return `Today at ${timeFmt.format(d)}`;
  if (days === 1) return `Yesterday at ${timeFmt.format(d)}`;
  return `${dateFmt.format(d)} ${timeFmt.format(d)}`;
}
