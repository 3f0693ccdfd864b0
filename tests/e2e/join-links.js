// Which Teams join link an event stands for, written again from SPEC section 4 (and
// the Graph reference, 3.3a) for the tests' ground truth, not from the job's code:
// onlineMeeting.joinUrl of an online teamsForBusiness event; when onlineMeeting has no
// join URL, the first Teams join link in onlineMeetingUrl, the location(s) or the
// body, in the job's field order, either link form, a Safe Links wrapper unwrapped.

// The fields searched after onlineMeeting.joinUrl, in order; the name is what the
// final snapshot's joinUrlSource says.
export const LINK_FIELDS = [
  'onlineMeetingUrl',
  'location.locationUri',
  'location.displayName',
  'locations[].locationUri',
  'locations[].displayName',
  'body.content',
];

const TEAMS_HOSTS = new Set(['teams.microsoft.com', 'teams.cloud.microsoft', 'gov.teams.microsoft.us', 'dod.teams.microsoft.us']);

// https, a Teams host, and a path of either form with something after the prefix.
export function isTeamsJoinLink(url) {
  const m = /^https:\/\/([^/?#]+)(\/[^?#]*)?/i.exec(url);
  if (!m || !TEAMS_HOSTS.has(m[1].toLowerCase())) return false;
  return /^\/(l\/meetup-join|meet)\/[^?#]/i.test(m[2] || '');
}

// The link a Safe Links URL wraps (its url parameter, decoded once), else the URL.
function unwrapSafeLinks(url) {
  const m = /^https:\/\/([^/?#]+)/i.exec(url);
  if (!m || !/\.safelinks\.protection\.outlook\.com$/i.test(m[1])) return url;
  const q = url.indexOf('?');
  if (q < 0) return url;
  for (const part of url.slice(q + 1).split('&')) {
    if (/^url=/i.test(part) && part.length > 4) {
      try {
        return decodeURIComponent(part.slice(4));
      } catch {
        return url;
      }
    }
  }
  return url;
}

// The first Teams join link written in a text (a URL field, a location, an HTML or
// plain-text body), else null. A URL ends at white space, a quote or an angle
// bracket, without the sentence's trailing punctuation; "&amp;" in it reads as "&".
export function findJoinLink(text) {
  if (typeof text !== 'string') return null;
  for (const m of text.matchAll(/https:\/\/[^\x00-\x20\x7f"'<>`]*/gi)) {
    const url = unwrapSafeLinks(m[0].replace(/[.,;:!)\]]+$/, '').replace(/&amp;/gi, '&'));
    if (isTeamsJoinLink(url)) return url;
  }
  return null;
}

// The strings at a LINK_FIELDS path of an event, in order.
export function fieldStrings(ev, path) {
  const [head, tail] = path.split('.');
  const array = head.endsWith('[]');
  const v = ev?.[array ? head.slice(0, -2) : head];
  const items = array ? (Array.isArray(v) ? v : []) : [v];
  return items.map((it) => (tail ? (it && typeof it === 'object' ? it[tail] : undefined) : it)).filter((s) => typeof s === 'string');
}

// The Teams join link of an event and where it was found: {url, source}, source null
// for onlineMeeting.joinUrl; null when the event is not a Teams meeting (another
// provider's join URL is not searched past).
export function eventJoinLink(ev) {
  const primary = ev?.onlineMeeting?.joinUrl;
  if (typeof primary === 'string' && primary.length > 0) {
    return ev.isOnlineMeeting === true && ev.onlineMeetingProvider === 'teamsForBusiness' ? { url: primary, source: null } : null;
  }
  for (const source of LINK_FIELDS) {
    for (const s of fieldStrings(ev, source)) {
      const url = findJoinLink(s);
      if (url) return { url, source };
    }
  }
  return null;
}

// What the job looks up for an event: only those the mailbox organizes (an attendee
// gets 403). An attendee's event with a link only outside onlineMeeting is not online.
export function organizedJoinLink(ev) {
  return ev?.isOrganizer === true ? eventJoinLink(ev) : null;
}

// The link of a final snapshot's event read again from the field its joinUrlSource
// names (how the events table gets join_url when onlineMeeting has none), else null.
export function linkFromSource(ev) {
  const src = ev?.joinUrlSource;
  if (!LINK_FIELDS.includes(src)) return null;
  for (const s of fieldStrings(ev, src)) {
    const url = findJoinLink(s);
    if (url) return url;
  }
  return null;
}
