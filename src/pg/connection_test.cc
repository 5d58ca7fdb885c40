// What an operator reads when a connection fails: libpq's text (captured from libpq 15)
// classified into a code and a fix that names the configuration key the settings came from.
// No server needed; ssl_test.cc checks the same against real servers.
#include "pg/connection.h"

#include <gtest/gtest.h>

namespace pg2iceberg::pg {
namespace {

constexpr const char* kDisplay =
    "host='db' port='5432' dbname='shop' user='bob' password='********'";

Status Fail(const std::string& libpq_message,
            const ConnectionOrigin& origin = ConnectionOrigin::SourcePostgres()) {
  return ConnectFailure(libpq_message, kDisplay, origin);
}

void ExpectMentions(const Status& s, std::initializer_list<const char*> parts) {
  for (const char* p : parts) {
    EXPECT_NE(s.message().find(p), std::string::npos) << "missing \"" << p << "\" in:\n"
                                                      << s.message();
  }
}

void ExpectOmits(const Status& s, std::initializer_list<const char*> parts) {
  for (const char* p : parts) {
    EXPECT_EQ(s.message().find(p), std::string::npos) << "unexpected \"" << p << "\" in:\n"
                                                      << s.message();
  }
}

TEST(ConnectFailureTest, WrongPasswordForTheSourceNamesItsKeysAndVariable) {
  Status s = Fail("connection to server at \"db\" (10.0.0.5), port 5432 failed: FATAL:  "
                  "password authentication failed for user \"bob\"");
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  ExpectMentions(s, {"cannot connect to PostgreSQL (", kDisplay,
                     "password authentication failed for user \"bob\"",
                     "source.postgres.user", "source.postgres.password",
                     "PG2ICEBERG_SOURCE_POSTGRES_PASSWORD"});
  ExpectOmits(s, {"server is running", "state.postgres_url"});
}

TEST(ConnectFailureTest, WrongPasswordInTheCoordinatorUrlNamesStatePostgresUrl) {
  Status s = ConnectFailure(
      "connection to server at \"coord\" (10.0.0.6), port 5432 failed: FATAL:  password "
      "authentication failed for user \"coord\"",
      "the coordinator database (state.postgres_url)", ConnectionOrigin::StatePostgresUrl());
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  ExpectMentions(s, {"the user and the password in state.postgres_url",
                     "PG2ICEBERG_STATE_POSTGRES_URL"});
  ExpectOmits(s, {"source.postgres", "server is running"});
}

TEST(ConnectFailureTest, MissingPasswordSaysToSetOne) {
  Status s = Fail("connection to server at \"db\" (10.0.0.5), port 5432 failed: "
                  "fe_sendauth: no password supplied");
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  ExpectMentions(s, {"requires a password", "set source.postgres.password",
                     "PG2ICEBERG_SOURCE_POSTGRES_PASSWORD"});
}

TEST(ConnectFailureTest, SslRequiredByTheClientButNotOfferedByTheServer) {
  Status s = Fail("connection to server at \"db\" (10.0.0.5), port 5432 failed: server does "
                  "not support SSL, but SSL was required");
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  ExpectMentions(s, {"server does not accept SSL connections",
                     "set source.postgres.sslmode to prefer or disable",
                     "enable ssl on the server"});
  ExpectOmits(s, {"server is running"});

  Status url = ConnectFailure("server does not support SSL, but SSL was required", "coord",
                              ConnectionOrigin::StatePostgresUrl());
  ExpectMentions(url, {"set the sslmode in state.postgres_url to prefer or disable"});
}

TEST(ConnectFailureTest, ServerThatOnlyAcceptsSslFromThisHost) {
  Status s = Fail("connection to server at \"db\" (10.0.0.5), port 5432 failed: FATAL:  no "
                  "pg_hba.conf entry for host \"10.0.0.9\", user \"bob\", database \"shop\", "
                  "no encryption");
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  ExpectMentions(s, {"pg_hba.conf", "source.postgres.sslmode to require"});
}

TEST(ConnectFailureTest, MissingDatabaseOrRoleNamesThatKey) {
  Status db = Fail("connection to server at \"db\" (10.0.0.5), port 5432 failed: FATAL:  "
                   "database \"shop\" does not exist");
  EXPECT_EQ(db.code(), StatusCode::kFailedPrecondition);
  ExpectMentions(db, {"check source.postgres.database"});
  Status role = Fail("connection to server at \"db\" (10.0.0.5), port 5432 failed: FATAL:  "
                     "role \"bob\" does not exist");
  ExpectMentions(role, {"check source.postgres.user"});
  ExpectOmits(role, {"source.postgres.database"});
}

TEST(ConnectFailureTest, CertificateProblemsNameSslrootcertAndAreNotRetried) {
  Status missing = Fail("root certificate file \"/etc/ca.crt\" does not exist Either provide "
                        "the file or change sslmode to disable server certificate "
                        "verification.");
  EXPECT_EQ(missing.code(), StatusCode::kFailedPrecondition);
  ExpectMentions(missing, {"source.postgres.sslrootcert"});
  ExpectOmits(missing, {"source.postgres.password"});
  Status wrong = Fail("connection to server at \"db\" (10.0.0.5), port 5432 failed: SSL "
                      "error: certificate verify failed");
  EXPECT_EQ(wrong.code(), StatusCode::kFailedPrecondition);
  ExpectMentions(wrong, {"source.postgres.sslrootcert"});
}

TEST(ConnectFailureTest, UnreachableServerIsRetryable) {
  Status s = Fail("connection to server at \"db\" (10.0.0.5), port 1 failed: Connection "
                  "refused Is the server running on that host and accepting TCP/IP "
                  "connections?");
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  ExpectMentions(s, {"check that the server is running and reachable",
                     "source.postgres.host", "source.postgres.port"});
}

}  // namespace
}  // namespace pg2iceberg::pg
