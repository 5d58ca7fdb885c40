// S3 Tables and Glue as users configure them (docs/rest-catalog.md), against the real binary,
// PostgreSQL 15 and the Iceberg REST catalog fixture behind a proxy that verifies AWS Signature
// V4 on every request before forwarding it (tools/python/sigv4_proxy.py, written from the
// specification independently of our signer): S3 Tables replicates a table named by the
// {schema}_{table} template with every request signed for `s3tables` in the ARN's region and the
// ARN as warehouse; Glue's probe signs for `glue`; a wrong secret is refused and says so.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "fixtures/binary_suite.h"
#include "fixtures/net.h"
#include "fixtures/pg_cluster.h"
#include "fixtures/readers.h"
#include "fixtures/rest_catalog_server.h"
#include "fixtures/subprocess.h"

namespace pg2iceberg {
namespace {

using namespace std::chrono_literals;
using fixtures::ExitStatus;
using fixtures::Subprocess;

constexpr char kAccessKey[] = "AKIDEXAMPLE";
constexpr char kSecretKey[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr char kArn[] = "arn:aws:s3tables:us-east-2:111122223333:bucket/analytics";

class AwsCatalogTest : public fixtures::BinarySuite {
 protected:
  AwsCatalogTest() : BinarySuite("pg2i-aws-", PG2I_BINARY) {}

  void SetUp() override {
    BinarySuite::SetUp();
    auto server = fixtures::RestCatalogServer::Start();
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    catalog_ = std::move(*server);
  }

  // The verifying proxy for `service` in `region`, in front of the catalog fixture at /iceberg.
  std::string StartProxy(const std::string& service, const std::string& region,
                         const std::string& secret = kSecretKey) {
    auto port = fixtures::FreeLoopbackPort();
    EXPECT_TRUE(port.ok());
    log_ = dir_->str() + "/proxy-" + service + std::to_string(proxies_.size()) + ".jsonl";
    std::vector<std::string> argv = fixtures::PythonToolArgv("sigv4_proxy.py");
    for (const std::string& a :
         {std::string("--port"), std::to_string(*port), std::string("--upstream"), catalog_->uri(),
          std::string("--strip-prefix"), std::string("/iceberg"), std::string("--access-key"),
          std::string(kAccessKey), std::string("--secret-key"), secret, std::string("--service"),
          service, std::string("--region"), region, std::string("--log"), log_}) {
      argv.push_back(a);
    }
    fixtures::SubprocessOptions o;
    o.log_path = dir_->str() + "/proxy" + std::to_string(proxies_.size()) + ".log";
    o.argv = argv;
    auto p = Subprocess::Start(o);
    EXPECT_TRUE(p.ok());
    PG2I_EXPECT_OK((*p)->WaitForLog("listening"));
    proxies_.push_back(std::move(*p));
    return "http://127.0.0.1:" + std::to_string(*port) + "/iceberg";
  }

  std::string Config(const std::string& tag, const std::string& sink) {
    const std::string path = dir_->str() + "/" + tag + ".yaml";
    std::ofstream(path) << "source:\n  postgres: {host: 127.0.0.1, port: " << pg_->port()
                        << ", database: postgres, user: postgres}\n"
                        << "  logical: {slot_name: slot_" << tag << ", publication_name: pub_"
                        << tag << "}\n"
                        << "state: {coordinator_schema: _coord_" << tag << "}\n"
                        << "sink:\n  warehouse: " << catalog_->warehouse() << "\n"
                        << "  s3_access_key: " << kAccessKey << "\n  s3_secret_key: \""
                        << kSecretKey << "\"\n  flush_interval: 300ms\n"
                        << "  materializer_interval: 300ms\n" << sink
                        << "metrics_addr: \"\"\ntables:\n  - name: public." << tag << "_orders\n";
    return path;
  }

  std::vector<nlohmann::json> Requests() {
    std::vector<nlohmann::json> out;
    std::ifstream in(log_);
    for (std::string line; std::getline(in, line);) out.push_back(nlohmann::json::parse(line));
    return out;
  }

  std::unique_ptr<fixtures::RestCatalogServer> catalog_;
  std::vector<std::unique_ptr<Subprocess>> proxies_;
  std::string log_;
};

TEST_F(AwsCatalogTest, S3TablesReplicatesWithEveryRequestSignedForItsRegion) {
  PG2I_ASSERT_OK(pg_->Exec("CREATE TABLE s3t_orders (id int PRIMARY KEY, v text); "
                           "INSERT INTO s3t_orders SELECT g, 'v' || g FROM generate_series(1, 30) g"));
  const std::string uri = StartProxy("s3tables", "us-east-2");
  const std::string config = Config("s3t", "  s3_tables_arn: \"" + std::string(kArn) +
                                               "\"\n  catalog_uri: " + uri +
                                               "\n  namespace: cdc\n  table_name: \"{schema}_{table}\"\n");
  fixtures::SubprocessOptions o;
  o.log_path = dir_->str() + "/run.log";
  o.argv = {PG2I_BINARY, "--config", config, "--log-format", "text", "run"};
  auto run = Subprocess::Start(o);
  ASSERT_TRUE(run.ok());
  PG2I_ASSERT_OK(pg_->Exec("UPDATE s3t_orders SET v = 'changed' WHERE id <= 5; "
                           "DELETE FROM s3t_orders WHERE id > 25"));
  std::string out;
  bool verified = false;
  for (int i = 0; i < 60 && !verified; ++i) {
    verified = RunCommand(config, {"verify"}, &out).success();
    if (!verified) std::this_thread::sleep_for(1s);
  }
  EXPECT_TRUE(verified) << out << "\n" << (*run)->LogTail();
  PG2I_ASSERT_OK((*run)->Signal(SIGTERM));
  PG2I_ASSERT_OK_AND_ASSIGN(ExitStatus st, (*run)->Wait(60s));
  EXPECT_TRUE(st.success()) << (*run)->LogTail();

  const std::vector<nlohmann::json> requests = Requests();
  ASSERT_GT(requests.size(), 5u);
  bool config_with_arn = false, table_path = false;
  for (const auto& r : requests) {
    EXPECT_TRUE(r["ok"].get<bool>()) << r.dump();
    if (r["path"] == "/iceberg/v1/config") {
      config_with_arn = r["query"] == "warehouse=" + std::string(kArn);
    }
    table_path = table_path || r["path"].get<std::string>().find("/tables/public_s3t_orders") !=
                                   std::string::npos;
  }
  EXPECT_TRUE(config_with_arn) << "GET /v1/config did not name the ARN as warehouse";
  EXPECT_TRUE(table_path) << "no request for cdc.public_s3t_orders ({schema}_{table})";
}

TEST_F(AwsCatalogTest, GlueSignsForGlueAndAWrongSecretIsRefusedWithTheReason) {
  const std::string uri = StartProxy("glue", "ap-south-1");
  const std::string sink = "  glue_catalog_id: \"111122223333\"\n  s3_region: ap-south-1\n"
                           "  catalog_uri: " + uri + "\n";
  std::string out;
  ExitStatus st = RunCommand(Config("glue", sink), {"connect-iceberg"}, &out);
  EXPECT_TRUE(st.success()) << out;
  const std::vector<nlohmann::json> requests = Requests();
  ASSERT_GT(requests.size(), 2u);
  for (const auto& r : requests) EXPECT_TRUE(r["ok"].get<bool>()) << r.dump();
  EXPECT_EQ(requests.front()["query"], "warehouse=111122223333");

  // The proxy knows another secret: every request is refused, and the operator is told why.
  const std::string wrong = StartProxy("glue", "ap-south-1", "another-secret");
  st = RunCommand(Config("glue2", "  glue_catalog_id: \"111122223333\"\n  s3_region: ap-south-1\n"
                                  "  catalog_uri: " + wrong + "\n"),
                  {"connect-iceberg"}, &out);
  EXPECT_FALSE(st.success()) << out;
  EXPECT_NE(out.find("403"), std::string::npos) << out;
  EXPECT_NE(out.find("signature does not match"), std::string::npos) << out;
  for (const auto& r : Requests()) EXPECT_FALSE(r["ok"].get<bool>()) << r.dump();
}

}  // namespace
}  // namespace pg2iceberg
