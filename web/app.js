// The resonate-chat demo: plain JavaScript against the public API, following
// README.md's "Browser clients" flow: the newest page of history, then an
// EventSource opened with a stream ticket from the page's head_seq, every room
// event applied once by seq, a fresh ticket when a reconnect is refused.
// Everything a user typed is rendered with textContent, never as HTML.
'use strict';

const $ = (id) => document.getElementById(id);
const dev = document.body.dataset.dev === 'true';
const RANK = { participant: 1, moderator: 2, owner: 3 };

const state = {
  token: sessionStorage.getItem('token') || '', // per tab, so two tabs can be two users
  user: null,           // { sub, name } of the token
  room: null,           // the room's id
  role: null,           // the caller's role in the room
  lastSeq: 0,           // the newest room event seq applied
  es: null,             // the EventSource
  stopped: true,        // no reconnecting: left, banned, closed
  people: new Map(),    // user_id -> Participant
  messages: new Map(),  // message id -> RoomMessage
  pinned: null,         // the pinned RoomMessage, shown above the chat
  meTimer: 0,
};

// ---- the API ----------------------------------------------------------------

// api calls /api/v1 with the token; a problem answer becomes an Error with
// status and problem. A 401 gets one retry with a fresh token in dev mode.
async function api(path, opts = {}, retried = false) {
  const r = await fetch(`/api/v1${path}`, { ...opts,
    headers: { Authorization: `Bearer ${state.token}`, 'Content-Type': 'application/json', ...opts.headers } });
  if (r.status === 401 && dev && !retried && state.user) {
    await refreshToken();
    return api(path, opts, true);
  }
  if (!r.ok) {
    let problem = null;
    try { problem = await r.json(); } catch { /* not JSON */ }
    throw Object.assign(new Error(problem?.detail || r.statusText), { status: r.status, problem });
  }
  return r.status === 204 ? null : r.json();
}

const enc = encodeURIComponent;
const roomPath = (p = '') => `/rooms/${enc(state.room)}${p}`;
const send = (method, path, body) => api(path, { method, body: body === undefined ? undefined : JSON.stringify(body) });

// ---- identity ---------------------------------------------------------------

// claims reads sub and name from a JWT, for display only: the server checks it.
function claims(token) {
  try {
    const p = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    return { sub: String(p.sub || ''), name: String(p.name || p.sub || ''), exp: Number(p.exp) || 0 };
  } catch { return null; }
}

async function devToken(name, sub) {
  const r = await fetch('/dev/token', { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ sub, name }) });
  const body = await r.json();
  if (!r.ok) throw Object.assign(new Error(body.detail || r.statusText), { status: r.status, problem: body });
  return body.token;
}

function useToken(token) {
  const c = claims(token);
  if (!c || !c.sub) throw new Error('that does not look like a token (a JWT has three parts separated by dots)');
  state.token = token;
  state.user = c;
  sessionStorage.setItem('token', token);
  $('who').textContent = `${c.name} (${c.sub})`;
}

// refreshToken gets a new token when the old one expired: from the dev
// endpoint, or else by asking the user to paste one.
let pasteWaiter = null;
async function refreshToken() {
  if (dev) return useToken(await devToken(state.user.name, state.user.sub));
  show('signin');
  $('signin-error').textContent = 'Your token expired: paste a new one to go on.';
  return new Promise((resolve) => { pasteWaiter = resolve; });
}

const slug = (name) => name.trim().toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 64) || 'user';

$('name-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const name = $('name').value.trim();
  try {
    useToken(await devToken(name, slug(name)));
    afterSignIn();
  } catch (err) { $('signin-error').textContent = err.message; }
});

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  try {
    useToken($('token').value.trim());
    $('signin-error').textContent = '';
    if (pasteWaiter) { const w = pasteWaiter; pasteWaiter = null; show('chat'); w(); return; }
    afterSignIn();
  } catch (err) { $('signin-error').textContent = err.message; }
});

function afterSignIn() {
  const room = new URLSearchParams(location.hash.slice(1)).get('room');
  if (room) { $('room-id').value = room; }
  show('lobby');
}

// ---- lobby ------------------------------------------------------------------

$('room-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const id = $('room-id').value.trim();
  const create = e.submitter?.value === 'create';
  $('lobby-error').textContent = '';
  try {
    if (create) {
      await send('POST', '/rooms', { id, name: $('room-name').value.trim() || id });
    } else {
      await send('POST', `/rooms/${enc(id)}/participants`);
    }
    await enterRoom(id);
  } catch (err) {
    $('lobby-error').textContent = err.status === 409 ? `${err.message} — join it instead?` : err.message;
  }
});

function show(section) {
  for (const s of ['signin', 'lobby', 'chat']) $(s).hidden = s !== section;
}

// ---- the room ---------------------------------------------------------------

// enterRoom follows the join flow: history first (its head_seq is where the
// stream resumes), then the people and the caller's standing, then the stream.
// Those two reads may already include events the stream replays; applying a
// participant event twice is harmless.
async function enterRoom(id) {
  closeStream();
  Object.assign(state, { room: id, lastSeq: 0, stopped: false, role: null });
  state.people.clear();
  clearMessages();
  history.replaceState(null, '', `#room=${enc(id)}`);
  const room = await api(roomPath());
  $('room-title').textContent = room.name;
  showLock(room.chat.locked_until);
  showPinned(room.pinned);
  const page = await api(roomPath('/messages?limit=50'));
  page.messages.reverse().forEach(upsertMessage);
  state.lastSeq = page.head_seq;
  const { participants } = await api(roomPath('/participants'));
  participants.forEach((p) => state.people.set(p.user_id, p));
  renderPeople();
  await refreshMe();
  show('chat');
  $('content').focus();
  connect();
}

// expiring: the token's exp is past or near. The server still takes such a
// token for a short leeway, but a stream opened with it would end at once (or
// be refused, and EventSource would retry it): get a fresh one first.
const expiring = (token) => { const exp = claims(token)?.exp; return Boolean(exp) && exp * 1000 - Date.now() < 5000; };

async function connect() {
  if (state.stopped) return;
  setConn('connecting');
  let ticket;
  try {
    if (expiring(state.token)) await refreshToken();
    ({ ticket } = await send('POST', roomPath('/stream-ticket')));
  } catch (err) {
    if (err.status === 403 || err.status === 404) return stop(err.message);
    if (err.status === 401) return refreshToken().then(connect, (e) => stop(e.message));
    setConn('reconnecting'); // the server is away: try again soon
    setTimeout(connect, 2000);
    return;
  }
  if (state.stopped) return;
  const es = new EventSource(`/api/v1${roomPath('/events')}?ticket=${enc(ticket)}&last_event_id=${state.lastSeq}`);
  state.es = es;
  es.onopen = () => setConn('live');
  // EventSource reconnects by itself (sending Last-Event-ID) while the ticket
  // is good. A refused reconnect (ticket expired: 401) leaves it CLOSED: get a
  // new ticket and open a new one from lastSeq.
  es.onerror = () => {
    if (state.es !== es) return;
    if (es.readyState === EventSource.CLOSED) {
      state.es = null;
      setConn('reconnecting');
      setTimeout(connect, 1000);
    } else {
      setConn('reconnecting');
    }
  };
  for (const [type, fn] of Object.entries(handlers)) {
    es.addEventListener(type, (e) => {
      const ev = JSON.parse(e.data);
      if (ev.seq) { // a room event: apply each seq once, in order
        if (ev.seq <= state.lastSeq) return;
        state.lastSeq = ev.seq;
      }
      fn(ev.data, ev);
    });
  }
}

function closeStream() {
  if (state.es) { state.es.close(); state.es = null; }
}

function stop(why) {
  state.stopped = true;
  closeStream();
  setConn('stopped');
  $('standing').textContent = why;
  $('content').disabled = $('send').disabled = true;
}

const nameOf = (id) => state.people.get(id)?.name || id;
const until = (t) => new Date(t).toLocaleTimeString();
const isMe = (id) => state.user && id === state.user.sub;

const handlers = {
  'message.created': (m) => upsertMessage(m),
  'message.updated': (m) => upsertMessage(m),
  'message.deleted': (d) => markDeleted(d.id),
  'message.reactions': (d) => applyTally(d.id, d.reactions),
  'participant.joined': (p, ev) => { state.people.set(p.user_id, p); renderPeople(); notice(ev, `${p.name} joined`); },
  'participant.left': (d, ev) => {
    const who = nameOf(d.user_id);
    state.people.delete(d.user_id);
    renderPeople();
    notice(ev, d.reason === 'kicked' ? `${who} was removed` : d.reason === 'banned' ? `${who} was banned` : `${who} left`);
    if (isMe(d.user_id) && d.reason !== 'banned') stop(d.reason === 'kicked' ? 'You were removed from the room.' : 'You left the room.');
  },
  'participant.role_changed': (p, ev) => {
    state.people.set(p.user_id, p);
    renderPeople();
    notice(ev, `${p.name} is now ${p.role}`);
    if (isMe(p.user_id)) refreshMe();
  },
  'user.muted': (d, ev) => {
    const p = state.people.get(d.user_id);
    if (p) { p.muted_until = d.until; renderPeople(); }
    notice(ev, `${nameOf(d.user_id)} was muted until ${until(d.until)} by ${nameOf(d.by)}${d.reason ? ` (${d.reason})` : ''}`);
    if (isMe(d.user_id)) refreshMe();
  },
  'user.unmuted': (d, ev) => {
    const p = state.people.get(d.user_id);
    if (p) { p.muted_until = null; renderPeople(); }
    notice(ev, `${nameOf(d.user_id)} was unmuted by ${nameOf(d.by)}`);
    if (isMe(d.user_id)) refreshMe();
  },
  'user.banned': (d, ev) => {
    notice(ev, `${nameOf(d.user_id)} was banned ${d.until ? `until ${until(d.until)}` : 'for good'} by ${nameOf(d.by)}${d.reason ? ` (${d.reason})` : ''}`);
    if (isMe(d.user_id)) stop('You are banned from this room.');
  },
  'user.unbanned': (d, ev) => notice(ev, `${nameOf(d.user_id)} was unbanned by ${nameOf(d.by)}`),
  'room.chat_updated': (d, ev) => {
    showLock(d.locked_until);
    notice(ev, d.locked_until ? `${nameOf(d.by)} locked the chat until ${until(d.locked_until)}` : `${nameOf(d.by)} unlocked the chat`);
    refreshMe();
  },
  'room.closed': (d, ev) => { notice(ev, `${nameOf(d.by)} closed the room`); stop('The room was closed.'); },
  'history.reset': (d) => { // our state is older than the server keeps: drop it; every retained event follows
    clearMessages();
    state.lastSeq = d.oldest_seq - 1;
  },
  'auth.expired': () => { // the stream ended with the token: a fresh one, then resume from lastSeq
    closeStream();
    setConn('reconnecting');
    refreshToken().then(connect, (err) => stop(err.message));
  },
};

// ---- rendering --------------------------------------------------------------

// insertBySeq keeps the list in seq order whatever order items arrive in.
function insertBySeq(li, seq) {
  li.dataset.seq = seq;
  const list = $('messages');
  let after = null;
  for (const other of list.children) {
    if (Number(other.dataset.seq) > seq) { after = other; break; }
  }
  list.insertBefore(li, after);
  if (!after) list.scrollTop = list.scrollHeight;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function upsertMessage(m) {
  noteReactions(m);
  state.messages.set(m.id, m);
  let li = document.querySelector(`#messages li[data-id="${CSS.escape(m.id)}"]`);
  const fresh = !li;
  if (fresh) { li = el('li'); li.dataset.id = m.id; }
  li.className = `msg${m.is_deleted ? ' deleted' : ''}${isMe(m.sender_id) ? ' mine' : ''}`;
  markMentions(li, m);
  li.replaceChildren(el('time', '', until(m.timestamp)), el('span', 'who', m.sender_name || m.sender_id),
    m.is_deleted ? el('span', 'text', 'message deleted') : mentionText(m));
  if (m.edited_at && !m.is_deleted) li.append(el('span', 'edited', '(edited)'));
  if (!m.is_deleted && mayDelete(m)) {
    const b = el('button', 'small danger del', 'Delete');
    b.type = 'button';
    b.addEventListener('click', () => act(send('DELETE', roomPath(`/messages/${enc(m.id)}`))));
    li.append(b);
  }
  if (!m.is_deleted && canModerate()) li.append(pinButton(m));
  if (!m.is_deleted) li.append(reactionBar(m));
  if (fresh) insertBySeq(li, m.seq);
}

function markDeleted(id) {
  const m = state.messages.get(id);
  if (m) upsertMessage({ ...m, is_deleted: true, content: '' });
}

function rerenderMessages() { for (const m of state.messages.values()) upsertMessage(m); }

function clearMessages() {
  state.messages.clear();
  myReactions.clear();
  $('messages').replaceChildren();
}

// ---- reactions --------------------------------------------------------------

// A message's tally comes from history, from each message event and from
// message.reactions events; only history and the answers to my PUTs say
// which emoji are mine ("me"), events never do. So my own reactions are
// kept here, apart from the counts, and survive every tally an event brings.
const QUICK_EMOJI = ['👍', '❤️', '😂', '🎉', '👏'];
const myReactions = new Map(); // message id -> Set of my emoji

// noteReactions keeps a message's tally when a newer copy (an edit event)
// lacks one, and learns my own reactions from a tally that says "me".
function noteReactions(m) {
  m.reactions ??= state.messages.get(m.id)?.reactions || [];
  if (m.reactions.some((r) => r.me !== undefined)) {
    myReactions.set(m.id, new Set(m.reactions.filter((r) => r.me).map((r) => r.emoji)));
  }
}

// applyTally replaces a message's tally (counts only) and shows it.
function applyTally(id, reactions) {
  const m = state.messages.get(id);
  if (m) upsertMessage({ ...m, reactions });
}

// reactionBar is the message's tallies, mine highlighted, then the quick
// emoji not in the tally yet; a click toggles my reaction.
function reactionBar(m) {
  const bar = el('div', 'reactions');
  const mine = myReactions.get(m.id) || new Set();
  const counts = new Map(m.reactions.map((r) => [r.emoji, r.count]));
  for (const emoji of [...counts.keys(), ...QUICK_EMOJI.filter((e) => !counts.has(e))]) {
    const n = counts.get(emoji) || 0;
    const b = el('button', n ? 'reaction' : 'reaction quick');
    b.type = 'button';
    b.dataset.emoji = emoji;
    b.setAttribute('aria-pressed', String(mine.has(emoji)));
    b.title = mine.has(emoji) ? `Remove your ${emoji}` : `React with ${emoji}`;
    b.append(el('span', 'emoji', emoji));
    if (n) b.append(el('span', 'count', String(n)));
    b.addEventListener('click', () => toggleReaction(m.id, emoji));
    bar.append(b);
  }
  return bar;
}

// toggleReaction adds or removes my reaction. A PUT answers with the whole
// tally, mine marked; a DELETE answers nothing, so the count drops here
// until the next message.reactions event brings the server's.
async function toggleReaction(id, emoji) {
  const path = roomPath(`/messages/${enc(id)}/reactions/${enc(emoji)}`);
  $('chat-error').textContent = '';
  try {
    if (myReactions.get(id)?.has(emoji)) {
      await send('DELETE', path);
      myReactions.get(id)?.delete(emoji);
      const m = state.messages.get(id);
      if (m) {
        applyTally(id, m.reactions.map((r) => (r.emoji === emoji ? { ...r, count: r.count - 1 } : r)).filter((r) => r.count > 0));
      }
    } else {
      applyTally(id, (await send('PUT', path)).reactions);
    }
  } catch (err) {
    $('chat-error').textContent = err.message;
  }
}

let noticeSeq = 0;
function notice(ev, text) {
  insertBySeq(el('li', 'notice', text), ev.seq || ++noticeSeq);
}

const rank = (id) => RANK[state.people.get(id)?.role] || 1;
const canModerate = () => (RANK[state.role] || 0) >= RANK.moderator;
const mayDelete = (m) => isMe(m.sender_id) || (canModerate() && RANK[state.role] > rank(m.sender_id));

function renderPeople() {
  const list = $('people');
  list.replaceChildren();
  $('people-count').textContent = state.people.size ? `(${state.people.size})` : '';
  const people = [...state.people.values()].sort((a, b) => (RANK[b.role] - RANK[a.role]) || a.name.localeCompare(b.name));
  for (const p of people) {
    const li = el('li');
    li.dataset.user = p.user_id;
    li.append(el('span', 'name', p.name || p.user_id));
    if (p.role !== 'participant') li.append(el('span', 'role badge', p.role));
    if (p.muted_until && new Date(p.muted_until) > new Date()) li.append(el('span', 'muted', `muted until ${until(p.muted_until)}`));
    if (!isMe(p.user_id) && canModerate() && RANK[state.role] > RANK[p.role]) li.append(peopleActions(p));
    list.append(li);
  }
}

function peopleActions(p) {
  const box = el('div', 'actions');
  const add = (label, cls, fn) => {
    const b = el('button', `small ${cls}`, label);
    b.type = 'button';
    b.dataset.action = label.toLowerCase().split(' ')[0];
    b.addEventListener('click', () => act(fn()));
    box.append(b);
  };
  const u = enc(p.user_id);
  if (p.muted_until && new Date(p.muted_until) > new Date()) add('Unmute', '', () => send('DELETE', roomPath(`/mutes/${u}`)));
  else add('Mute 10 min', '', () => send('PUT', roomPath(`/mutes/${u}`), { duration_seconds: 600, reason: 'muted from the demo page' }));
  add('Kick', 'danger', () => send('DELETE', roomPath(`/participants/${u}`)));
  add('Ban 1 day', 'danger', () => send('PUT', roomPath(`/bans/${u}`), { duration_seconds: 86400, reason: 'banned from the demo page' }));
  if (state.role === 'owner') {
    if (p.role === 'moderator') add('Demote', '', () => send('PUT', roomPath(`/participants/${u}/role`), { role: 'participant' }));
    else add('Make moderator', '', () => send('PUT', roomPath(`/participants/${u}/role`), { role: 'moderator' }));
  }
  return box;
}

// act runs a moderation call; its effect arrives as an event on the stream.
async function act(promise) {
  $('chat-error').textContent = '';
  try { await promise; } catch (err) { $('chat-error').textContent = err.message; }
}

function showLock(lockedUntil) {
  const locked = Boolean(lockedUntil) && new Date(lockedUntil) > new Date();
  $('lock-state').hidden = !locked;
  $('lock').hidden = locked;
  $('unlock').hidden = !locked;
  $('lock-state').textContent = locked ? `chat locked until ${until(lockedUntil)}` : '';
}

const reasons = {
  muted: (me) => `You are muted until ${until(me.muted_until)}.`,
  chat_locked: (me) => `The chat is locked until ${until(me.locked_until)}: only moderators may write.`,
  banned: () => 'You are banned from this room.',
  rate_limited: (me) => `Slow mode: you may write again in ${me.retry_after_seconds} s.`,
  not_participant: () => 'You are not in this room.',
};

// refreshMe asks the server what the caller may do now, and asks again when
// a mute, a lock or a slow-mode wait runs out (that sends no event).
async function refreshMe() {
  let me;
  try { me = await api(roomPath('/me')); } catch { return; }
  state.role = me.role;
  $('role').textContent = me.role || '';
  showLock(me.locked_until);
  document.body.classList.toggle('moderating', canModerate());
  $('mod-room').hidden = !canModerate();
  $('content').disabled = $('send').disabled = !me.can_post;
  $('standing').textContent = me.can_post ? '' : (reasons[me.reason]?.(me) || `You may not write here (${me.reason}).`);
  renderPeople();
  rerenderMessages();
  clearTimeout(state.meTimer);
  const ends = [me.muted_until, me.locked_until].filter(Boolean).map((t) => new Date(t) - Date.now());
  if (me.retry_after_seconds) ends.push(me.retry_after_seconds * 1000);
  if (ends.length) state.meTimer = setTimeout(refreshMe, Math.max(250, Math.min(...ends) + 250));
}

function setConn(s) {
  const labels = { connecting: 'connecting…', live: 'live', reconnecting: 'reconnecting…', stopped: 'disconnected' };
  $('conn').dataset.state = s;
  $('conn').textContent = labels[s];
}

// ---- mentions -----------------------------------------------------------------

// markMentions marks a message that mentions anyone, and more strongly one
// that mentions me: RoomMessage.mentions says who, whatever the text says.
function markMentions(li, m) {
  const ids = m.is_deleted ? [] : (m.mentions || []);
  li.classList.toggle('mentions', ids.length > 0);
  li.classList.toggle('mentions-me', ids.some(isMe));
}

// mentionText is the message's text with each @name of a mentioned user (by
// id or display name) in a highlight of its own, built as text nodes: the
// content is never HTML.
function mentionText(m) {
  const span = el('span', 'text');
  const names = new Map(); // lower-cased @name → the user id it mentions
  for (const id of m.mentions || []) {
    names.set(id.toLowerCase(), id);
    names.set(nameOf(id).toLowerCase(), id);
  }
  const escaped = [...names.keys()].sort((a, b) => b.length - a.length).map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  if (!escaped.length) { span.textContent = m.content; return span; }
  const re = new RegExp(`@(${escaped.join('|')})(?![\\p{L}\\p{N}_-])`, 'giu');
  let at = 0;
  for (const match of m.content.matchAll(re)) {
    span.append(m.content.slice(at, match.index));
    const id = names.get(match[1].toLowerCase());
    const b = el('span', `mention${isMe(id) ? ' me' : ''}`, match[0]);
    b.dataset.user = id;
    span.append(b);
    at = match.index + match[0].length;
  }
  span.append(m.content.slice(at));
  return span;
}

// mentionsIn is who a message being written mentions: each @word that is a
// participant's id or display name (one word), once.
function mentionsIn(content) {
  const byName = new Map();
  for (const [id, p] of state.people) {
    byName.set(id.toLowerCase(), id);
    if (p.name && !/\s/.test(p.name)) byName.set(p.name.toLowerCase(), id);
  }
  const out = [];
  for (const [, word] of content.matchAll(/@([\p{L}\p{N}_.-]+)/gu)) {
    const id = byName.get(word.replace(/[.]+$/, '').toLowerCase());
    if (id && !out.includes(id) && out.length < 20) out.push(id);
  }
  return out;
}

// ---- the pinned message -----------------------------------------------------

// The banner above the chat shows the room's pinned message: from the Room
// when entering, replaced by each room.pinned, hidden when that is null. An
// edit of the pinned message comes as message.updated, which updates the
// banner by id; its deletion is followed by room.pinned null.
function showPinned(m) {
  state.pinned = m || null;
  $('pinned').hidden = !m;
  $('pinned').dataset.id = m ? m.id : '';
  $('pinned-who').textContent = m ? m.sender_name || m.sender_id : '';
  $('pinned-text').textContent = m ? m.content : '';
}

// pinButton is a moderator's control on a message: pin it, replacing the pin.
function pinButton(m) {
  const b = el('button', 'small pin', 'Pin');
  b.type = 'button';
  b.addEventListener('click', () => act(send('PUT', roomPath('/pin'), { message_id: m.id })));
  return b;
}

handlers['room.pinned'] = (d, ev) => {
  showPinned(d.message);
  notice(ev, d.message ? `${nameOf(d.by)} pinned a message` : `${nameOf(d.by)} unpinned the message`);
};
const applyUpdated = handlers['message.updated'];
handlers['message.updated'] = (m, ev) => {
  applyUpdated(m, ev);
  if (state.pinned?.id === m.id) showPinned(m);
};
$('unpin').addEventListener('click', () => act(send('DELETE', roomPath('/pin'))));

// ---- composing and room controls -------------------------------------------

let clientSeq = 0;
$('composer').addEventListener('submit', async (e) => {
  e.preventDefault();
  const content = $('content').value;
  if (!content.trim()) return;
  $('chat-error').textContent = '';
  // client_id makes a retried send safe: the server answers with the original.
  const clientID = `${state.user.sub}-${Date.now().toString(36)}-${++clientSeq}`;
  try {
    const body = { content, client_id: clientID };
    const mentions = mentionsIn(content);
    if (mentions.length) body.mentions = mentions;
    const m = await send('POST', roomPath('/messages'), body);
    upsertMessage(m); // the stream brings the same message; upsert by id shows it once
    $('content').value = '';
  } catch (err) {
    $('chat-error').textContent = err.message;
    if (err.status === 403 || err.status === 429) refreshMe();
  }
});

$('content').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); $('composer').requestSubmit(); }
});

$('lock').addEventListener('click', () =>
  act(send('PATCH', roomPath('/chat'), { locked_until: new Date(Date.now() + 5 * 60 * 1000).toISOString() })));
$('unlock').addEventListener('click', () => act(send('PATCH', roomPath('/chat'), { locked_until: null })));
$('leave').addEventListener('click', async () => {
  let failed = '';
  try {
    await send('DELETE', roomPath(`/participants/${enc(state.user.sub)}`));
  } catch (err) { // 403 and 404: already out (banned, kicked, closed)
    if (err.status !== 403 && err.status !== 404) failed = `Could not leave the room: ${err.message}`;
  }
  closeRoom();
  $('lobby-error').textContent = failed;
});

// On a phone the People list folds away; opening it takes height from the
// messages, which stay scrolled to the newest if they were.
$('people-toggle').addEventListener('click', () => {
  const list = $('messages');
  const atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 4;
  const open = $('chat').classList.toggle('people-open');
  $('people-toggle').setAttribute('aria-expanded', String(open));
  if (atEnd) list.scrollTop = list.scrollHeight;
});

// closeRoom ends the stream and forgets the room, so nothing of it stays on
// the page, and goes back to the lobby.
function closeRoom() {
  stop('');
  clearTimeout(state.meTimer);
  Object.assign(state, { room: null, role: null, lastSeq: 0 });
  state.people.clear();
  clearMessages();
  renderPeople();
  for (const id of ['room-title', 'role', 'standing', 'chat-error']) $(id).textContent = '';
  showLock(null);
  showPinned(null);
  $('mod-room').hidden = true;
  document.body.classList.remove('moderating');
  $('chat').classList.remove('people-open');
  $('people-toggle').setAttribute('aria-expanded', 'false');
  history.replaceState(null, '', '#');
  setConn('idle');
  show('lobby');
}

// ---- start ------------------------------------------------------------------

if (state.token && claims(state.token)) {
  useToken(state.token);
  afterSignIn();
} else {
  show('signin');
}
