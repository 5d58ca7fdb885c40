// TLS to the source: sslmode verify-ca / verify-full with sslrootcert, through the same
// configuration → connection path the product uses, against PostgreSQL 15 with ssl=on.
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

}  // namespace
}  // namespace pg2iceberg::pg
