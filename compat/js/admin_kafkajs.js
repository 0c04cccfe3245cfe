// kafkajs's admin client against gregor.
//
// Usage: node admin_kafkajs.js <bootstrap> <prefix>. Creates, describes,
// alters and deletes a topic named after prefix, and reads, moves and
// deletes the offsets of a group a consumer committed in. Prints one line
// per check; exits 1 if any failed.
const { Kafka, logLevel, ConfigResourceTypes } = require('kafkajs')

const [bootstrap, prefix] = process.argv.slice(2)
const kafka = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING })
const failed = []
const check = (what, ok, detail) => {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what} ${detail === undefined ? '' : JSON.stringify(detail).slice(0, 300)}`)
  if (!ok) failed.push(what)
}
const attempt = async (f) => { try { return [await f(), null] } catch (e) { return [null, e] } }
const until = async (f, ms) => {
  const end = Date.now() + ms
  for (;;) {
    const v = await f()
    if (v || Date.now() > end) return v
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}

;(async () => {
  const admin = kafka.admin()
  await admin.connect()
  const topic = `${prefix}-a`
  const group = `${prefix}-g`
  let [r, err] = await attempt(() => admin.createTopics({ topics: [{ topic, numPartitions: 2, configEntries: [{ name: 'retention.ms', value: '100000' }] }], waitForLeaders: true }))
  check('createTopics', r === true, err && err.message)
  ;[r, err] = await attempt(() => admin.createTopics({ topics: [{ topic, numPartitions: 2 }] }))
  check('createTopics of an existing topic answers false', r === false, err && err.message)
  // On a cluster the broker asked may list the new topic a moment later.
  check('listTopics', await until(async () => (await admin.listTopics()).includes(topic), 20000))
  ;[r, err] = await attempt(() => admin.createPartitions({ topicPartitions: [{ topic, count: 3 }] }))
  check('createPartitions', !err, err && err.message)
  const partitions = await until(async () => {
    const md = await admin.fetchTopicMetadata({ topics: [topic] })
    return md.topics[0].partitions.length === 3
  }, 20000)
  check('fetchTopicMetadata shows the new partition', partitions)
  const retention = async () => {
    const d = await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms'] }] })
    return d.resources[0].configEntries[0].configValue
  }
  check('describeConfigs', (await retention()) === '100000', await retention())
  ;[r, err] = await attempt(() => admin.alterConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'retention.ms', value: '300000' }] }] }))
  check('alterConfigs', !err && r.resources[0].errorCode === 0, err ? err.message : r)
  check('describeConfigs after alterConfigs', await until(async () => (await retention()) === '300000', 20000))
  const cluster = await admin.describeCluster()
  check('describeCluster', cluster.brokers.length > 0 && cluster.clusterId, cluster)

  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages: [0, 1, 2, 3, 4, 5].map(i => ({ value: `v${i}`, partition: i % 3 })) })
  await producer.disconnect()
  const consumer = kafka.consumer({ groupId: group })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  let got = 0
  await new Promise((resolve) => {
    const timer = setTimeout(resolve, 30000)
    consumer.run({ eachMessage: async () => { got++; if (got === 6) { clearTimeout(timer); resolve() } } })
  })
  check('a consumer of the group reads the records', got === 6, got)
  const described = await admin.describeGroups([group])
  check('describeGroups', described.groups[0].state === 'Stable' && described.groups[0].members.length === 1, described.groups[0].state)
  await consumer.disconnect()
  const committed = await until(async () => {
    const o = await admin.fetchOffsets({ groupId: group, topics: [topic] })
    return o[0].partitions.every(p => p.offset === '2') && o
  }, 20000)
  check('fetchOffsets', !!committed, committed)
  const offsets = await admin.fetchTopicOffsets(topic)
  check('fetchTopicOffsets', offsets.length === 3 && offsets.every(p => p.high === '2' && p.low === '0'), offsets)
  ;[r, err] = await attempt(() => admin.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: '1' }] }))
  check('setOffsets', !err, err && err.message)
  ;[r, err] = await attempt(() => admin.resetOffsets({ groupId: group, topic, earliest: true }))
  check('resetOffsets', !err, err && err.message)
  const reset = await admin.fetchOffsets({ groupId: group, topics: [topic] })
  // kafkajs commits -2 (EARLIEST) and its consumers resolve it; Kafka
  // keeps a committed offset as it was sent.
  check('offsets after resetOffsets', reset[0].partitions.every(p => p.offset === '-2'), reset)
  ;[r, err] = await attempt(() => admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '1' }] }))
  check('deleteTopicRecords', !err, err && err.message)
  const low = (await admin.fetchTopicOffsets(topic)).find(p => p.partition === 0).low
  check('low watermark after deleteTopicRecords', low === '1', low)
  ;[r, err] = await attempt(() => admin.deleteGroups([group]))
  check('deleteGroups', !err && r[0].errorCode === 0, err ? err.message : r)
  ;[r, err] = await attempt(() => admin.deleteTopics({ topics: [topic] }))
  check('deleteTopics', !err, err && err.message)
  await admin.disconnect()
  process.exit(failed.length ? 1 : 0)
})().catch((e) => { console.log('FAIL', e.stack); process.exit(1) })
