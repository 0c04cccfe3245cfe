// Package sasl is the server side (and, for connections between brokers,
// the client side) of the SASL mechanisms Gregor serves, as Apache Kafka's
// SaslServer implementations behave:
//
//   - PLAIN (RFC 4616, Kafka's PlainSaslServer): users and passwords from
//     the listener's JAAS config, user_<name>="<password>".
//   - SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802/7677, Kafka's
//     ScramSaslServer): credentials are salt, iterations, stored key and
//     server key, never a password, looked up through a CredentialStore.
//   - OAUTHBEARER (RFC 7628, Kafka's OAuthBearerSaslServer): unsecured JWS
//     tokens checked as Kafka's default unsecured validator does, or signed
//     tokens checked against a JWKS file.
//
// A Server runs one exchange: Step takes each client token and returns the
// challenge to send. Errors are of two kinds, as in Kafka: an *AuthError's
// message is sent to the client (SaslAuthenticationException); any other
// error is reported with a generic message naming the mechanism only
// (SaslException), so that a client cannot learn which users exist.
//
// The package knows nothing of connections: protocol's connection layer
// drives the exchange (SaslHandshake, SaslAuthenticate, raw v0 tokens).
package sasl
