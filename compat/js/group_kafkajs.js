// kafkajs consumer group member for gregor's compat tests.
//
// Usage: node group_kafkajs.js '{"bootstrap":..,"group":..,"topic":..,"client_id":..}'
//
// Subscribes to the topic in the group and prints one JSON line per event:
// {"type":"assigned","partitions":[..]} (the whole assignment after each
// join) and {"type":"record","p":..,"o":..,"v":".."}; kafkajs commits
// after each batch. When stdin closes it disconnects (leaving the group)
// and exits.
'use strict'

const { Kafka, logLevel } = require('kafkajs')

const emit = o => process.stdout.write(JSON.stringify(o) + '\n')

async function main () {
  const spec = JSON.parse(process.argv[2])
  const kafka = new Kafka({ brokers: [spec.bootstrap], clientId: spec.client_id, logLevel: logLevel.WARN })
  const consumer = kafka.consumer({
    groupId: spec.group,
    sessionTimeout: 6000,
    heartbeatInterval: 200,
    rebalanceTimeout: 10000,
    maxWaitTimeInMs: 100,
    allowAutoTopicCreation: false
  })
  consumer.on(consumer.events.GROUP_JOIN, e => {
    const ps = (e.payload.memberAssignment[spec.topic] || []).slice().sort((a, b) => a - b)
    emit({ type: 'assigned', partitions: ps })
  })
  consumer.on(consumer.events.REBALANCING, () => emit({ type: 'assigned', partitions: [] }))
  consumer.on(consumer.events.CRASH, e => emit({ type: 'error', msg: 'crash: ' + e.payload.error }))
  let stopping = false
  process.stdin.on('end', async () => {
    stopping = true
    await consumer.disconnect()
    process.exit(0)
  })
  process.stdin.resume()
  await consumer.connect()
  await consumer.subscribe({ topics: [spec.topic], fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      if (stopping) return
      emit({ type: 'record', p: partition, o: Number(message.offset), v: message.value.toString() })
    }
  })
}

main().catch(e => {
  emit({ type: 'error', msg: String(e && e.stack ? e.stack : e) })
  process.exit(1)
})
