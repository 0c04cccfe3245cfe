// kafkajs transactions for gregor's compat tests.
//
// Usage: node txn_kafkajs.js '{"bootstrap":..,"topic":..,"txn_id":..,"txns":[{"values":[..],"commit":true}]}'
//
// A transactional producer (idempotent, one request in flight) runs each
// entry as producer.transaction(), send (value i to partition i % 3),
// then commit or abort. Prints {"type":"done"}.
'use strict'

const { Kafka, logLevel } = require('kafkajs')

async function main () {
  const spec = JSON.parse(process.argv[2])
  const kafka = new Kafka({ brokers: [spec.bootstrap], clientId: 'gregor-compat-kafkajs-txn', logLevel: logLevel.WARN })
  const producer = kafka.producer({
    transactionalId: spec.txn_id,
    idempotent: true,
    maxInFlightRequests: 1,
    transactionTimeout: 30000,
    allowAutoTopicCreation: false
  })
  await producer.connect()
  for (const txn of spec.txns) {
    const t = await producer.transaction()
    await t.send({
      topic: spec.topic,
      messages: txn.values.map((v, i) => ({ partition: i % 3, value: v }))
    })
    if (txn.commit) await t.commit()
    else await t.abort()
  }
  await producer.disconnect()
  process.stdout.write(JSON.stringify({ type: 'done' }) + '\n')
}

main().catch(e => {
  process.stderr.write(String(e && e.stack ? e.stack : e) + '\n')
  process.exit(1)
})
