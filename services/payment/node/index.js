// sagaboard's Payment, written as the seed article writes its services:
// amqplib and a consume loop. It knows only the contract, static/asyncapi.yaml
// (operations payment.receive.*, payment.send.*), and can stand in for the Go
// payment (run sagaboard with -only and every part but payment).
//
// Environment (defaults in brackets):
//   SAGABOARD_DATA   folder of broker.json: connect as the vhost's payment user [none]
//   AMQP_URL         the broker when there is no broker.json [amqp://guest:guest@localhost:5672/]
//   PAYMENT_STORE    the JSON file it keeps its ledger in [./payment-node.json]
'use strict';
const amqp = require('amqplib');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const EXCHANGE = 'sagaboard';
const CONTROL = 'sagaboard.control';
const storeFile = process.env.PAYMENT_STORE || './payment-node.json';

// The store: the ledger, the bookings whose undo reached us, the switch,
// and, per consumed message id, what handling it published, so a
// redelivery publishes the same messages again and changes nothing.
let store = { ledger: [], closed: {}, done: {}, switches: { at: 0, by: '', payment: {} } };
if (fs.existsSync(storeFile)) store = JSON.parse(fs.readFileSync(storeFile, 'utf8'));

function save() { // write and rename: a crash leaves the old file or the new one
  const tmp = `${storeFile}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(store));
  fs.renameSync(tmp, storeFile);
}

function login() {
  const dir = process.env.SAGABOARD_DATA;
  if (!dir) {
    const url = process.env.AMQP_URL || 'amqp://guest:guest@localhost:5672/';
    return { url, vhost: null, user: decodeURIComponent(new URL(url).username) || 'guest' };
  }
  const creds = JSON.parse(fs.readFileSync(path.join(dir, 'broker.json'), 'utf8'));
  const u = new URL(creds.url);
  u.username = encodeURIComponent(creds.parts.payment.user);
  u.password = encodeURIComponent(creds.parts.payment.password);
  return { url: u.toString(), vhost: creds.vhost, user: creds.parts.payment.user };
}

const money = (c) => `${Math.floor(c / 100)}.${String(c % 100).padStart(2, '0')}`;
// The Envelope's fields in the contract's order, empty ones left out.
const fields = ['booking', 'event', 'isSuccess', 'reason', 'cause', 'injected', 'refunded_cents'];
const envelope = (e) => Object.fromEntries(fields.filter((k) => e[k] !== undefined && e[k] !== '' && e[k] !== false && e[k] !== 0).map((k) => [k, e[k]]));

// What each message type makes, as the contract's payment.send operations say.
const handlers = {
  BookingCreated(e) {
    const b = e.booking;
    if (store.closed[b.id]) {
      return [['LateMessageNeutralised', 'saga_notes', { booking: b, reason: 'late BookingCreated neutralised: the booking was already compensated, so nothing was charged' }]];
    }
    const sw = store.switches.payment || {};
    if ((!sw.user_id || sw.user_id === b.user_id) && sw.fail_rate > 0 && Math.random() < sw.fail_rate) {
      const reason = `declined: payment.fail_rate=${sw.fail_rate}${sw.user_id ? ` (user_id=${sw.user_id})` : ''}`;
      return [['PaymentServiceFailed', 'compensation_queue', { booking: b, event: 'PaymentServiceFailed', reason, injected: true }]];
    }
    if (!store.ledger.some((l) => l.booking_id === b.id && l.kind === 'charge')) {
      store.ledger.push({ booking_id: b.id, kind: 'charge', amount_cents: b.amount_cents, at: new Date().toISOString() });
    }
    return [['PaymentCompleted', 'seat_update_queue', { booking: b, reason: `charged ${money(b.amount_cents)}` }]];
  },
  RefundRequested(e) {
    const b = e.booking;
    store.closed[b.id] = Date.now();
    const out = { booking: b, event: e.event, cause: e.cause, injected: e.injected };
    const charge = store.ledger.find((l) => l.booking_id === b.id && l.kind === 'charge');
    if (!charge) out.reason = 'nothing was charged, so nothing to refund';
    else if (store.ledger.some((l) => l.booking_id === b.id && l.kind === 'refund')) out.reason = 'already refunded';
    else {
      store.ledger.push({ booking_id: b.id, kind: 'refund', amount_cents: charge.amount_cents, at: new Date().toISOString() });
      out.refunded_cents = charge.amount_cents;
      out.reason = `refunded ${money(charge.amount_cents)}`;
    }
    return [['PaymentRefunded', 'seat_release_queue', out]];
  },
};
// Who may send what into which queue (the contract's send operations): a
// sender is believed only from the broker-validated user_id.
const senders = { payment_queue: { BookingCreated: ['booking'] }, refund_queue: { RefundRequested: ['seats', 'compensation'] } };

function fail(err) { console.error('payment-node:', err); process.exit(1); }

async function main() {
  const { url, vhost, user } = login();
  const conn = await amqp.connect(url);
  conn.on('close', () => { console.error('payment-node: connection closed'); process.exit(1); });
  const ch = await conn.createConfirmChannel();
  let chain = Promise.resolve(); // one message at a time, in order
  let charging = null; // payment_queue's consumer tag, while not paused
  let toggles = Promise.resolve(); // pauses and resumes, one after the other
  const setPaused = (paused) => (toggles = toggles.then(() => pause(paused)).catch(fail));
  const consume = (q) => ch.consume(q, (msg) => { chain = chain.then(() => handle(q, msg)).catch(fail); });
  const publish = (exchange, m) => ch.publish(exchange, m.key, Buffer.from(m.body), {
    persistent: true, contentType: 'application/json', messageId: m.id, correlationId: m.correlationId, type: m.type,
    timestamp: Math.floor(Date.now() / 1000), appId: 'sagaboard', userId: user,
    headers: Object.assign({ 'x-sagaboard-source': 'payment', 'x-sagaboard-published-ms': { '!': 'int64', value: Date.now() } },
      m.causedBy ? { 'x-sagaboard-caused-by': m.causedBy } : {}),
  });

  // The failure switches: web sends the whole set on control.switches, and
  // answers our hello with it.
  const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true });
  await ch.bindQueue(queue, CONTROL, 'control.#');
  await ch.consume(queue, (msg) => {
    if (msg.properties.type !== 'SwitchesChanged' || (vhost && msg.properties.userId !== `${vhost}.web`)) return;
    const st = JSON.parse(msg.content.toString());
    if (st.at > store.switches.at || (st.at === store.switches.at && st.by > store.switches.by)) {
      store.switches = { at: st.at, by: st.by, payment: (st.switches || {}).payment || {} };
      setPaused(Boolean(store.switches.payment.paused)).then(save); // kept once in force
    }
  }, { noAck: true });
  publish(CONTROL, { key: 'control.hello', type: 'Hello', id: crypto.randomUUID(), body: '{}' });
  await ch.waitForConfirms();

  await ch.prefetch(32);
  // Paused, payment_queue waits in the broker; refunds go on, since an undo
  // must not be stopped by the fault that caused it.
  async function pause(paused) {
    if (paused && charging) { const tag = charging; charging = null; await ch.cancel(tag); }
    if (!paused && !charging) charging = (await consume('payment_queue')).consumerTag;
  }
  await setPaused(Boolean((store.switches.payment || {}).paused));
  await consume('refund_queue');
  async function handle(q, msg) {
    const p = msg.properties;
    let out = store.done[p.messageId];
    if (!out) {
      const from = (senders[q] || {})[p.type];
      let e;
      try { e = JSON.parse(msg.content.toString()); } catch { e = null; }
      if (!from || !p.messageId || !e || !e.booking || !e.booking.id || (vhost && !from.some((f) => p.userId === `${vhost}.${f}`))) {
        console.error(`payment-node: dead-lettering ${p.type} ${p.messageId} from ${p.userId} on ${q}`);
        ch.nack(msg, false, false); // the queue dead-letters it
        return;
      }
      out = handlers[p.type](e).map(([type, key, body]) => ({ type, key, id: crypto.randomUUID(), correlationId: e.booking.id, causedBy: p.messageId, body: JSON.stringify(envelope(body)) }));
      store.done[p.messageId] = out;
      const ids = Object.keys(store.done); // remember the newest 10000
      for (const id of ids.slice(0, Math.max(0, ids.length - 10000))) delete store.done[id];
      save();
    }
    for (const m of out) publish(EXCHANGE, m);
    await ch.waitForConfirms();
    ch.ack(msg);
  }
  console.error(`payment-node: ready, consuming payment_queue and refund_queue as ${user}`);
}

main().catch((err) => { console.error('payment-node:', err.message); process.exit(1); });
