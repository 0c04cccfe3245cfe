package broker

// DescribeProducers (key 61), version 0: the producers a partition's
// replicas track (kafka-transactions.sh describe-producers, find-hanging
// --broker-id): id, epoch, last sequence and timestamp, coordinator epoch
// and the first offset of an open transaction (-1 if none). As in Kafka,
// any replica with the log answers, leader or follower; a broker without
// one is NOT_LEADER_OR_FOLLOWER, an unknown partition
// UNKNOWN_TOPIC_OR_PARTITION. READ on the topic is needed, else
// TOPIC_AUTHORIZATION_FAILED; a name that cannot be a topic is
// INVALID_TOPIC_EXCEPTION with Kafka's message before that, as Kafka's
// handleDescribeProducersRequest validates it first (checkValidTopic).

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"gregor/broker/acl"
	"gregor/broker/metadata"
	"gregor/protocol"
)

func (b *Broker) handleDescribeProducers(_ context.Context, req *protocol.Request) (kmsg.Response, error) {
	r := req.Body.(*kmsg.DescribeProducersRequest)
	resp := req.Response().(*kmsg.DescribeProducersResponse)
	resp.Topics = []kmsg.DescribeProducersResponseTopic{}
	for _, t := range r.Topics {
		rt := kmsg.NewDescribeProducersResponseTopic()
		rt.Topic = t.Topic
		invalid := invalidTopicMessage(t.Topic)
		denied := invalid == "" && !b.authorize(req, acl.Read, acl.Topic, t.Topic)
		for _, id := range t.Partitions {
			rp := kmsg.NewDescribeProducersResponseTopicPartition()
			rp.Partition = id
			rp.ActiveProducers = []kmsg.DescribeProducersResponseTopicPartitionActiveProducer{}
			p := b.Partition(t.Topic, id)
			if invalid != "" {
				rp.ErrorCode, rp.ErrorMessage = kerr.InvalidTopicException.Code, kmsg.StringPtr(invalid)
			} else if denied {
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			} else if p == nil {
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else if err := p.describeProducers(&rp); err != nil {
				rp.ErrorCode = ErrorCode(b.log, err)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp, nil
}

// describeProducers lists the producers of a local replica.
func (p *Partition) describeProducers(rp *kmsg.DescribeProducersResponseTopicPartition) error {
	producers, err := p.activeProducers()
	if err != nil {
		return err
	}
	for _, e := range producers {
		ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
		ap.ProducerID, ap.ProducerEpoch = e.ID, int32(e.Epoch)
		ap.LastSequence, ap.LastTimestamp = e.lastSeq(), -1
		if n := len(e.Batches); n > 0 {
			ap.LastTimestamp = e.Batches[n-1].Timestamp
		}
		if e.LastTimestamp != 0 {
			ap.LastTimestamp = e.LastTimestamp // the last batch's, a marker's too, as Kafka
		}
		ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = e.CoordinatorEpoch, e.TxnFirstOffset
		rp.ActiveProducers = append(rp.ActiveProducers, ap)
	}
	return nil
}

// invalidTopicMessage is why a name cannot be a topic, in the words of
// Kafka's Topic.validate ("Topic name is invalid: ..."), or "" when it can.
func invalidTopicMessage(name string) string {
	if err := metadata.ValidateTopicName(name); err != nil {
		return err.Error()
	}
	return ""
}
