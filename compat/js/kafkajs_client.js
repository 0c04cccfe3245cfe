// kafkajs driver for gregor's compat tests.
//
// Usage: node kafkajs_client.js produce|consume < spec.json
//
// Same spec as compat/py: bootstrap, topic, compression ("none" or "gzip";
// kafkajs has no other codec without plugins), timeout_s, records or counts;
// one JSON line per acknowledged or consumed record. kafkajs's consumer
// only works in a consumer group, so consume drives kafkajs's own cluster
// and broker layer (metadata, Fetch request and record batch decoding)
// with explicit partitions and offsets instead.
'use strict'

const { Kafka, CompressionTypes, logLevel } = require('kafkajs')
const Cluster = require('kafkajs/src/cluster')
const { createLogger, LEVELS } = require('kafkajs/src/loggers')
const LoggerConsole = require('kafkajs/src/loggers/console')
const socketFactory = require('kafkajs/src/network/socketFactory')

const unb64 = s => (s == null ? null : Buffer.from(s, 'base64'))
const b64 = b => (b == null ? null : Buffer.from(b).toString('base64'))

function codec (name) {
  switch (name || 'none') {
    case 'none': return CompressionTypes.None
    case 'gzip': return CompressionTypes.GZIP
    default: throw new Error(`kafkajs has no built-in ${name} codec`)
  }
}

async function produce (spec) {
  const kafka = new Kafka({ brokers: [spec.bootstrap], clientId: 'gregor-compat-kafkajs', logLevel: logLevel.WARN })
  const producer = kafka.producer({ allowAutoTopicCreation: false, maxInFlightRequests: 1 })
  await producer.connect()
  const compression = codec(spec.compression)
  const out = []
  // Sends of 50 records: each is a Produce request with one batch per partition.
  for (let i = 0; i < spec.records.length; i += 50) {
    const chunk = spec.records.slice(i, i + 50)
    const messages = chunk.map(r => {
      const headers = {}
      for (const h of r.h || []) headers[h.k] = unb64(h.v)
      return { partition: r.p, key: unb64(r.k), value: unb64(r.v), headers }
    })
    const res = await producer.send({ topic: spec.topic, acks: -1, compression, messages })
    const base = {}
    for (const m of res) {
      if (m.errorCode !== 0) throw new Error(`partition ${m.partition}: error code ${m.errorCode}`)
      base[m.partition] = BigInt(m.baseOffset)
    }
    for (const r of chunk) {
      out.push(JSON.stringify({ p: r.p, o: Number(base[r.p]) }))
      base[r.p] += 1n
    }
  }
  await producer.disconnect()
  process.stdout.write(out.join('\n') + (out.length ? '\n' : ''))
}

async function consume (spec) {
  const logger = createLogger({ level: LEVELS.WARN, logCreator: LoggerConsole })
  const cluster = new Cluster({
    logger,
    brokers: [spec.bootstrap],
    clientId: 'gregor-compat-kafkajs',
    socketFactory: socketFactory(),
    connectionTimeout: 3000,
    authenticationTimeout: 10000,
    requestTimeout: 30000,
    enforceRequestTimeout: true,
    retry: { retries: 5 },
    allowAutoTopicCreation: false
  })
  await cluster.connect()
  await cluster.addTargetTopic(spec.topic)
  await cluster.refreshMetadata()
  const want = {}
  const next = {}
  for (const [p, n] of Object.entries(spec.counts)) {
    want[p] = n
    next[p] = 0n
  }
  const got = {}
  for (const p of Object.keys(want)) got[p] = 0
  const deadline = Date.now() + (spec.timeout_s || 30) * 1000
  const leaders = cluster.findLeaderForPartitions(spec.topic, Object.keys(want).map(Number))
  const out = []
  while (Object.keys(want).some(p => got[p] < want[p])) {
    if (Date.now() > deadline) throw new Error(`timed out: consumed ${JSON.stringify(got)} of ${JSON.stringify(want)}`)
    for (const [nodeId, partitions] of Object.entries(leaders)) {
      const broker = await cluster.findBroker({ nodeId })
      const pending = partitions.filter(p => got[p] < want[p])
      if (pending.length === 0) continue
      const resp = await broker.fetch({
        replicaId: -1,
        isolationLevel: 1,
        maxWaitTime: 200,
        minBytes: 1,
        maxBytes: 1 << 20,
        topics: [{ topic: spec.topic, partitions: pending.map(p => ({ partition: p, fetchOffset: next[p].toString(), maxBytes: 256 << 10 })) }]
      })
      for (const t of resp.responses) {
        for (const pd of t.partitions) {
          if (pd.errorCode !== 0) throw new Error(`fetch partition ${pd.partition}: error code ${pd.errorCode}`)
          for (const m of pd.messages) {
            const off = BigInt(m.offset)
            if (off < next[pd.partition] || m.isControlRecord) continue
            const h = []
            for (const [k, v] of Object.entries(m.headers || {})) {
              for (const one of Array.isArray(v) ? v : [v]) h.push({ k, v: b64(one) })
            }
            out.push(JSON.stringify({ p: pd.partition, o: Number(off), k: b64(m.key), v: b64(m.value), h }))
            got[pd.partition]++
            next[pd.partition] = off + 1n
          }
        }
      }
    }
  }
  await cluster.disconnect()
  process.stdout.write(out.join('\n') + (out.length ? '\n' : ''))
}

async function main () {
  let input = ''
  for await (const chunk of process.stdin) input += chunk
  const spec = JSON.parse(input)
  if (process.argv[2] === 'produce') await produce(spec)
  else if (process.argv[2] === 'consume') await consume(spec)
  else throw new Error('usage: kafkajs_client.js produce|consume')
}

main().catch(e => {
  console.error(e && e.stack ? e.stack : String(e))
  process.exit(1)
})
