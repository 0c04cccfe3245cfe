// kafkajs's producer and consumer features against gregor: an idempotent
// GZIP producer; two members of one group reading with eachBatch,
// resolving offsets and heartbeating by hand; pause, resume and seek; a
// transaction that commits a consumer group's offsets with sendOffsets,
// one that aborts, and a read_committed consumer.
//
// Usage: node features_kafkajs.js <bootstrap> <prefix>. Prints one line per
// check; exits 1 if any failed. Waits are bounded and name what they
// waited for.
'use strict'

const { Kafka, logLevel, CompressionTypes } = require('kafkajs')

const [bootstrap, prefix] = process.argv.slice(2)
const kafka = new Kafka({ brokers: bootstrap.split(','), clientId: 'gregor-compat-kafkajs-features', logLevel: logLevel.NOTHING })
const failed = []
const check = (what, ok, detail) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what} ${detail === undefined ? '' : JSON.stringify(detail).slice(0, 400)}`)
  if (!ok) failed.push(what)
}
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const until = async (f, ms) => {
  const end = Date.now() + ms
  for (;;) {
    if (await f()) return true
    if (Date.now() > end) return false
    await sleep(100)
  }
}
const count = (recs, p) => recs.filter(r => r.p === p).length

async function groupWithEachBatch (topic) {
  const group = `${prefix}-batch`
  const seen = {}
  const joined = {}
  const members = []
  for (const name of ['a', 'b']) {
    const c = kafka.consumer({ groupId: group, sessionTimeout: 10000, heartbeatInterval: 300, maxWaitTimeInMs: 100 })
    c.on(c.events.GROUP_JOIN, e => { joined[name] = (e.payload.memberAssignment[topic] || []).length })
    await c.connect()
    await c.subscribe({ topics: [topic], fromBeginning: true })
    await c.run({
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
        for (const m of batch.messages) {
          if (!isRunning() || isStale()) break
          const k = `${batch.partition}:${m.offset}`
          seen[k] = (seen[k] || 0) + 1
          resolveOffset(m.offset)
          await heartbeat()
        }
        await commitOffsetsIfNecessary()
      }
    })
    members.push(c)
  }
  // Both members hold partitions before anything is produced, so no
  // rebalance happens while they read.
  const split = await until(() => joined.a > 0 && joined.b > 0 && joined.a + joined.b === 3, 30000)
  check('two eachBatch members share the three partitions', split, joined)
  return { group, seen, members }
}

async function main () {
  const admin = kafka.admin()
  await admin.connect()
  const topic = `${prefix}-in`
  const out = `${prefix}-out`
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3 }, { topic: out, numPartitions: 3 }] })

  const g = await groupWithEachBatch(topic)

  // An idempotent producer, GZIP batches, 30 records per partition.
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
  await producer.connect()
  let acked = 0
  for (let i = 0; i < 3; i++) {
    const res = await producer.send({
      topic,
      acks: -1,
      compression: CompressionTypes.GZIP,
      messages: Array.from({ length: 30 }, (_, j) => ({ partition: j % 3, key: `k${i * 30 + j}`, value: `v${i * 30 + j}` }))
    })
    const ok = res.length === 3 && res.every(r => r.errorCode === 0 && Number(r.baseOffset) === i * 10)
    check(`idempotent GZIP send ${i}`, ok, res.map(r => [r.partition, r.baseOffset, r.errorCode]))
    acked += 30
  }
  await producer.disconnect()

  const all = await until(() => Object.keys(g.seen).length === acked, 30000)
  const dups = Object.entries(g.seen).filter(([, n]) => n > 1).map(([k]) => k)
  check('the eachBatch members read every record once', all && dups.length === 0, { read: Object.keys(g.seen).length, acked, dups })
  const committed = await until(async () => {
    const o = await admin.fetchOffsets({ groupId: g.group, topics: [topic] })
    return o[0].partitions.every(p => p.offset === '30')
  }, 20000)
  check('resolved offsets are committed', committed, await admin.fetchOffsets({ groupId: g.group, topics: [topic] }))
  const described = await admin.describeGroups([g.group])
  check('describeGroups shows both members', described.groups[0].state === 'Stable' && described.groups[0].members.length === 2, described.groups[0].state)
  for (const m of g.members) await m.disconnect()

  // pause, resume and seek: partition 1 is paused as the member joins,
  // before its first fetch, so it is not read while partitions 0 and 2
  // are read to the end.
  const solo = kafka.consumer({ groupId: `${prefix}-solo`, maxWaitTimeInMs: 100 })
  solo.on(solo.events.GROUP_JOIN, () => solo.pause([{ topic, partitions: [1] }]))
  await solo.connect()
  await solo.subscribe({ topics: [topic], fromBeginning: true })
  const recs = []
  await solo.run({ eachMessage: async ({ partition, message }) => { recs.push({ p: partition, o: Number(message.offset) }) } })
  const others = await until(() => count(recs, 0) >= 30 && count(recs, 2) >= 30, 30000)
  check('partitions 0 and 2 read while 1 is paused', others && count(recs, 1) === 0, { p0: count(recs, 0), p1: count(recs, 1), p2: count(recs, 2), paused: solo.paused() })
  solo.resume([{ topic, partitions: [1] }])
  check('partition 1 read after resume', await until(() => new Set(recs.filter(r => r.p === 1).map(r => r.o)).size === 30, 30000), count(recs, 1))
  const before = count(recs, 0)
  solo.seek({ topic, partition: 0, offset: '20' })
  const again = await until(() => count(recs, 0) >= before + 10, 30000)
  const replay = recs.filter(r => r.p === 0).slice(before).map(r => r.o)
  check('seek reads partition 0 again from offset 20', again && replay[0] === 20 && replay.length === 10, replay)
  await solo.disconnect()

  // Transactions: offsets of a group committed with sendOffsets, one
  // transaction committed and one aborted; read_committed sees only the
  // committed records.
  const txGroup = `${prefix}-txg`
  const tp = kafka.producer({ transactionalId: `${prefix}-tx`, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false })
  await tp.connect()
  const t1 = await tp.transaction()
  await t1.send({ topic: out, messages: [0, 1, 2].map(p => ({ partition: p, value: `committed-${p}` })) })
  await t1.sendOffsets({ consumerGroupId: txGroup, topics: [{ topic, partitions: [{ partition: 0, offset: '7' }] }] })
  await t1.commit()
  const t2 = await tp.transaction()
  await t2.send({ topic: out, messages: [0, 1, 2].map(p => ({ partition: p, value: `aborted-${p}` })) })
  await t2.sendOffsets({ consumerGroupId: txGroup, topics: [{ topic, partitions: [{ partition: 0, offset: '9' }] }] })
  await t2.abort()
  const t3 = await tp.transaction()
  await t3.send({ topic: out, messages: [{ partition: 0, value: 'committed-last' }] })
  await t3.commit()
  await tp.disconnect()
  const txOffsets = await admin.fetchOffsets({ groupId: txGroup, topics: [topic] })
  check('sendOffsets of the committed transaction, not of the aborted one', txOffsets[0].partitions.find(p => p.partition === 0).offset === '7', txOffsets)

  const rc = kafka.consumer({ groupId: `${prefix}-rc`, readUncommitted: false, maxWaitTimeInMs: 100 })
  await rc.connect()
  await rc.subscribe({ topics: [out], fromBeginning: true })
  const values = []
  await rc.run({ eachMessage: async ({ message }) => { values.push(message.value.toString()) } })
  const got = await until(() => values.includes('committed-last') && values.length >= 4, 30000)
  values.sort()
  check('read_committed reads the committed records only', got && JSON.stringify(values) === JSON.stringify(['committed-0', 'committed-1', 'committed-2', 'committed-last']), values)
  await rc.disconnect()
  await admin.deleteTopics({ topics: [topic, out] })
  await admin.disconnect()
  process.exit(failed.length ? 1 : 0)
}

main().catch(e => { console.log('FAIL', e.stack); process.exit(1) })
