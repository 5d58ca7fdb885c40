// TLS to the source: sslmode verify-ca / verify-full with sslrootcert, through the same
// configuration → connection path the product uses, against PostgreSQL 15 with ssl=on; and
// what a refused connection says against a server without TLS that checks passwords.
#include <gtest/gtest.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "config/config.h"
#include "fixtures/gtest_support.h"
#include "fixtures/pg_cluster.h"
#include "fixtures/temp_dir.h"
#include "pg/connection.h"
#include "pg/replication.h"

namespace pg2iceberg::pg {
namespace {

class SslTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto dir = fixtures::TempDir::Create("pg2i-ssl-");
    ASSERT_TRUE(dir.ok());
    dir_ = std::make_unique<fixtures::TempDir>(std::move(*dir));
    const std::string d = dir_->str();
    chmod(d.c_str(), 0755);  // the server may run as another user
    const std::string script =
        "set -e; cd '" + d + "'; "
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 "
        "  -subj /CN=pg2i-test-ca 2>/dev/null; "
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.crt -days 2 "
        "  -subj /CN=pg2i-other-ca 2>/dev/null; "
        "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
        "  -subj /CN=localhost 2>/dev/null; "
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1' > ext; "
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
        "  -out server.crt -days 2 -extfile ext 2>/dev/null; "
        "chmod 600 server.key; chmod 644 server.crt ca.crt other.crt";
    ASSERT_EQ(std::system(("bash -c \"" + script + "\"").c_str()), 0);
    if (geteuid() == 0) {
      passwd* pw = getpwnam("pg2i_test");
      ASSERT_NE(pw, nullptr);
      ASSERT_EQ(chown((d + "/server.key").c_str(), pw->pw_uid, pw->pw_gid), 0);
    }
    fixtures::PgClusterOptions o;
    o.settings = {{"ssl", "on"},
                  {"ssl_cert_file", d + "/server.crt"},
                  {"ssl_key_file", d + "/server.key"}};
    fixtures::StartForSuite(pg_, fixtures::PgCluster::Start(o), "PostgreSQL with TLS");
  }
  static void TearDownTestSuite() {
    pg_.reset();
    dir_.reset();
  }
  void SetUp() override { ASSERT_NE(pg_, nullptr) << "suite setup failed, see above"; }

  static config::PostgresConfig Source(const std::string& host, const std::string& sslmode,
                                       const std::string& root) {
    config::PostgresConfig c;
    c.host = host;
    c.port = pg_->port();
    c.user = "postgres";
    c.database = "postgres";
    c.sslmode = sslmode;
    c.sslrootcert = root.empty() ? "" : dir_->str() + "/" + root;
    return c;
  }

  static inline std::unique_ptr<fixtures::PgCluster> pg_;
  static inline std::unique_ptr<fixtures::TempDir> dir_;
};

TEST_F(SslTest, VerifyFullAndVerifyCaWithTheRightRoot) {
  for (const auto& [host, mode] : std::vector<std::pair<std::string, std::string>>{
           {"localhost", "verify-full"}, {"127.0.0.1", "verify-full"}, {"localhost", "verify-ca"},
           {"localhost", "require"}}) {
    auto cfg = Source(host, mode, "ca.crt");
    auto conn = Connection::Connect(cfg.ConnString(), cfg.RedactedConnString());
    ASSERT_TRUE(conn.ok()) << host << " " << mode << ": " << conn.status().ToString();
    PG2I_ASSERT_OK_AND_ASSIGN(auto ssl, (*conn)->QueryScalar(
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"));
    EXPECT_EQ(ssl, "t") << mode;
  }
  auto cfg = Source("localhost", "verify-full", "ca.crt");
  auto repl = ReplicationConnection::Connect(cfg.ConnString(), cfg.RedactedConnString());
  ASSERT_TRUE(repl.ok()) << repl.status().ToString();
  PG2I_EXPECT_OK((*repl)->IdentifySystem().status());
}

TEST_F(SslTest, WrongRootOrDisabledTlsFails) {
  auto cfg = Source("localhost", "verify-full", "other.crt");
  auto conn = Connection::Connect(cfg.ConnString(), cfg.RedactedConnString());
  ASSERT_FALSE(conn.ok());
  EXPECT_NE(conn.status().message().find("certificate"), std::string::npos)
      << conn.status().message();
  auto plain = Source("localhost", "disable", "");
  auto c2 = Connection::Connect(plain.ConnString(), plain.RedactedConnString());
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(*(*c2)->QueryScalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"),
            "f");
}

// A server without TLS whose pg_hba.conf checks passwords (except for the fixture's
// "postgres" superuser, which the setup uses).
class ConnectFailureTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto dir = fixtures::TempDir::Create("pg2i-hba-");
    ASSERT_TRUE(dir.ok());
    dir_ = std::make_unique<fixtures::TempDir>(std::move(*dir));
    chmod(dir_->str().c_str(), 0755);  // the server may run as another user
    const std::string hba = dir_->str() + "/pg_hba.conf";
    std::ofstream(hba) << "local all postgres trust\n"
                          "host all postgres 127.0.0.1/32 trust\n"
                          "host all all 127.0.0.1/32 scram-sha-256\n";
    chmod(hba.c_str(), 0644);
    fixtures::PgClusterOptions o;
    o.settings = {{"ssl", "off"}, {"hba_file", hba}};
    fixtures::StartForSuite(pg_, fixtures::PgCluster::Start(o), "PostgreSQL without TLS");
    if (pg_) {
      ASSERT_TRUE(pg_->Exec("CREATE ROLE alice LOGIN PASSWORD 'right-pw'").ok());
    }
  }
  static void TearDownTestSuite() {
    pg_.reset();
    dir_.reset();
  }
  void SetUp() override { ASSERT_NE(pg_, nullptr) << "suite setup failed, see above"; }

  static config::PostgresConfig Source(const std::string& user, const std::string& password,
                                       const std::string& sslmode) {
    config::PostgresConfig c;
    c.host = "127.0.0.1";
    c.port = pg_->port();
    c.user = user;
    c.password = password;
    c.database = "postgres";
    c.sslmode = sslmode;
    return c;
  }

  static inline std::unique_ptr<fixtures::PgCluster> pg_;
  static inline std::unique_ptr<fixtures::TempDir> dir_;
};

TEST_F(ConnectFailureTest, SslRequiredAgainstAServerWithoutSslSaysSoAndHowToFix) {
  auto cfg = Source("postgres", "", "require");
  auto conn = Connection::Connect(cfg.ConnString(), cfg.RedactedConnString());
  ASSERT_FALSE(conn.ok());
  const std::string& m = conn.status().message();
  EXPECT_EQ(conn.status().code(), StatusCode::kFailedPrecondition) << m;
  EXPECT_NE(m.find("server does not accept SSL connections"), std::string::npos) << m;
  EXPECT_NE(m.find("set source.postgres.sslmode to prefer or disable"), std::string::npos) << m;
  EXPECT_NE(m.find("enable ssl on the server"), std::string::npos) << m;
  EXPECT_EQ(m.find("server is running"), std::string::npos) << m;
  // The same server is fine with prefer.
  auto prefer = Source("postgres", "", "prefer");
  EXPECT_TRUE(Connection::Connect(prefer.ConnString(), prefer.RedactedConnString()).ok());
}

TEST_F(ConnectFailureTest, WrongPasswordNamesTheKeysItCameFrom) {
  auto cfg = Source("alice", "wrong-pw", "disable");
  auto source = Connection::Connect(cfg.ConnString(), cfg.RedactedConnString());
  ASSERT_FALSE(source.ok());
  const std::string& m = source.status().message();
  EXPECT_EQ(source.status().code(), StatusCode::kFailedPrecondition) << m;
  EXPECT_NE(m.find("password authentication failed"), std::string::npos) << m;
  EXPECT_NE(m.find("source.postgres.password"), std::string::npos) << m;
  EXPECT_NE(m.find("PG2ICEBERG_SOURCE_POSTGRES_PASSWORD"), std::string::npos) << m;
  EXPECT_EQ(m.find("wrong-pw"), std::string::npos) << m;

  // The coordinator connection from state.postgres_url names that key, not source.postgres.
  const std::string url = "postgres://alice:wrong-pw@127.0.0.1:" + std::to_string(pg_->port()) +
                          "/postgres?sslmode=disable";
  auto coord = Connection::Connect(url, "the coordinator database (state.postgres_url)",
                                   ConnectionOrigin::StatePostgresUrl());
  ASSERT_FALSE(coord.ok());
  const std::string& cm = coord.status().message();
  EXPECT_EQ(coord.status().code(), StatusCode::kFailedPrecondition) << cm;
  EXPECT_NE(cm.find("the user and the password in state.postgres_url"), std::string::npos)
      << cm;
  EXPECT_NE(cm.find("PG2ICEBERG_STATE_POSTGRES_URL"), std::string::npos) << cm;
  EXPECT_EQ(cm.find("source.postgres"), std::string::npos) << cm;
  EXPECT_EQ(cm.find("wrong-pw"), std::string::npos) << cm;

  auto right = Source("alice", "right-pw", "disable");
  EXPECT_TRUE(Connection::Connect(right.ConnString(), right.RedactedConnString()).ok());
}

}  // namespace
}  // namespace pg2iceberg::pg
