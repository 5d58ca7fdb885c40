// The one-container image (deploy/container/Dockerfile) without a Docker engine: its runtime
// tree is built by the same script the Dockerfile runs (scripts/container_rootfs.sh), and its
// entrypoint runs from that tree as a container runtime would (tools/python/run_in_rootfs.py:
// chroot, WORKDIR, USER 10001, the image's ENV) with only the environment variables a user of
// the image sets: POSTGRES_*, PUBLICATION_NAME, SLOT_NAME, S3_TABLE_BUCKET_ARN, AWS_REGION, plus
// the stand-ins for AWS (the S3 Tables endpoint is a SigV4-verifying proxy in front of the REST
// catalog fixture on a versitygw warehouse). The publication's table arrives in Iceberg, and
// the image's HEALTHCHECK passes.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "fixtures/binary_suite.h"
#include "fixtures/gtest_support.h"
#include "fixtures/net.h"
#include "fixtures/pg_cluster.h"
#include "fixtures/readers.h"
#include "fixtures/rest_catalog_server.h"
#include "fixtures/s3_server.h"
#include "fixtures/subprocess.h"

PG2I_REGISTER_ARROW_S3_ENVIRONMENT();

namespace pg2iceberg {
namespace {

using namespace std::chrono_literals;
using fixtures::Subprocess;

class ContainerTest : public fixtures::BinarySuite {
 protected:
  ContainerTest() : BinarySuite("pg2i-container-", PG2I_BINARY) {}

  std::unique_ptr<Subprocess> Start(const std::string& name, std::vector<std::string> argv) {
    fixtures::SubprocessOptions o;
    o.log_path = dir_->str() + "/" + name + ".log";
    o.argv = std::move(argv);
    auto p = Subprocess::Start(o);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? std::move(*p) : nullptr;
  }
};

TEST_F(ContainerTest, TheImageReplicatesThePublicationFromEnvironmentVariablesAlone) {
  if (geteuid() != 0) GTEST_SKIP() << "chroot needs root, as a container runtime does";
  const std::string source = PG2I_SOURCE_DIR;
  // The image's tree, built as the Dockerfile builds it.
  const std::string rootfs = dir_->str() + "/rootfs";
  std::string out;
  {
    auto build = Start("rootfs", {source + "/scripts/container_rootfs.sh", PG2I_BINARY, rootfs});
    ASSERT_NE(build, nullptr);
    PG2I_ASSERT_OK_AND_ASSIGN(fixtures::ExitStatus st, build->Wait(300s));
    ASSERT_TRUE(st.success()) << build->LogTail();
  }
  // AWS stand-ins: versitygw, the REST catalog on it, the SigV4-verifying proxy.
  PG2I_ASSERT_OK_AND_ASSIGN(auto s3, fixtures::S3Server::Start());
  PG2I_ASSERT_OK(s3->CreateBucket("tables"));
  fixtures::RestCatalogServerOptions ro;
  ro.s3 = fixtures::S3Warehouse::On(*s3, "tables");
  PG2I_ASSERT_OK_AND_ASSIGN(auto catalog, fixtures::RestCatalogServer::Start(ro));
  const std::string arn = "arn:aws:s3tables:" + s3->region() + ":111122223333:bucket/tables";
  PG2I_ASSERT_OK_AND_ASSIGN(int proxy_port, fixtures::FreeLoopbackPort());
  const std::string requests = dir_->str() + "/requests.jsonl";
  std::vector<std::string> proxy_argv = fixtures::PythonToolArgv("sigv4_proxy.py");
  for (const std::string& a :
       {std::string("--port"), std::to_string(proxy_port), std::string("--upstream"),
        catalog->uri(), std::string("--strip-prefix"), std::string("/iceberg"),
        std::string("--access-key"), s3->access_key(), std::string("--secret-key"),
        s3->secret_key(), std::string("--service"), std::string("s3tables"),
        std::string("--region"), s3->region(), std::string("--log"), requests}) {
    proxy_argv.push_back(a);
  }
  auto proxy = Start("proxy", proxy_argv);
  ASSERT_NE(proxy, nullptr);
  PG2I_ASSERT_OK(proxy->WaitForLog("listening"));

  PG2I_ASSERT_OK(pg_->Exec("CREATE TABLE ctr_orders (id int PRIMARY KEY, note text); "
                           "INSERT INTO ctr_orders SELECT g, 'n' || g FROM generate_series(1, 40) g; "
                           "CREATE PUBLICATION ctr_pub FOR TABLE ctr_orders"));
  PG2I_ASSERT_OK_AND_ASSIGN(int metrics_port, fixtures::FreeLoopbackPort());
  const std::vector<std::string> env = {
      // What a user of the image sets.
      "POSTGRES_HOST=127.0.0.1", "POSTGRES_PORT=" + std::to_string(pg_->port()),
      "POSTGRES_DB=postgres", "POSTGRES_USER=postgres", "POSTGRES_PASSWORD=unused",
      "PUBLICATION_NAME=ctr_pub", "SLOT_NAME=ctr_slot", "S3_TABLE_BUCKET_ARN=" + arn,
      "AWS_REGION=" + s3->region(),
      // Stand-ins for AWS: the S3 Tables endpoint, the staging bucket, the keys.
      "PG2ICEBERG_SINK_CATALOG_URI=http://127.0.0.1:" + std::to_string(proxy_port) + "/iceberg",
      "WAREHOUSE=s3://tables/staging", "S3_ENDPOINT=" + s3->endpoint(),
      "S3_ACCESS_KEY=" + s3->access_key(), "S3_SECRET_KEY=" + s3->secret_key(),
      // Other tests run beside this one: not the image's 0.0.0.0:9090.
      "PG2ICEBERG_METRICS_ADDR=127.0.0.1:" + std::to_string(metrics_port)};
  auto in_image = [&](bool health) {
    std::vector<std::string> argv = fixtures::PythonToolArgv("run_in_rootfs.py");
    argv.insert(argv.end(), {"--rootfs", rootfs, "--dockerfile",
                             source + "/deploy/container/Dockerfile"});
    if (health) argv.push_back("--health");
    for (const auto& e : env) argv.insert(argv.end(), {"--env", e});
    return argv;
  };
  auto run = Start("entrypoint", in_image(false));
  ASSERT_NE(run, nullptr);
  PG2I_ASSERT_OK(pg_->Exec("UPDATE ctr_orders SET note = 'changed' WHERE id <= 10; "
                           "DELETE FROM ctr_orders WHERE id > 35"));

  // verify, from outside the image, with the same settings as a config file.
  const std::string config = dir_->str() + "/outside.yaml";
  std::ofstream(config) << "source:\n  postgres: {host: 127.0.0.1, port: " << pg_->port()
                        << ", database: postgres, user: postgres}\n"
                        << "  logical: {slot_name: ctr_slot, publication_name: ctr_pub}\n"
                        << "sink:\n  s3_tables_arn: \"" << arn << "\"\n  catalog_uri: "
                        << "http://127.0.0.1:" << proxy_port << "/iceberg\n  warehouse: "
                        << "s3://tables/staging\n  s3_endpoint: " << s3->endpoint()
                        << "\n  s3_access_key: " << s3->access_key() << "\n  s3_secret_key: \""
                        << s3->secret_key() << "\"\n  s3_region: " << s3->region()
                        << "\nmetrics_addr: \"\"\n";
  bool verified = false;
  for (int i = 0; i < 90 && !verified && !run->HasExited(); ++i) {
    verified = RunCommand(config, {"verify"}, &out).success();
    if (!verified) std::this_thread::sleep_for(1s);
  }
  EXPECT_TRUE(verified) << out << "\n" << run->LogTail(6000);
  EXPECT_NE(out.find("pg_rows=35 iceberg_rows=35"), std::string::npos) << out;

  // The image's health check, run the same way.
  auto health = Start("health", in_image(true));
  PG2I_ASSERT_OK_AND_ASSIGN(fixtures::ExitStatus hs, health->Wait(30s));
  EXPECT_TRUE(hs.success()) << health->LogTail();

  PG2I_ASSERT_OK(run->Signal(SIGTERM));
  PG2I_ASSERT_OK_AND_ASSIGN(fixtures::ExitStatus st, run->Wait(60s));
  EXPECT_TRUE(st.success()) << run->LogTail(6000);
  const std::string log = run->LogTail(100000);
  EXPECT_NE(log.find("no config file; configuration from the environment"), std::string::npos);
  EXPECT_NE(log.find("replicating the tables of the publication"), std::string::npos) << log;
  std::ifstream in(requests);
  int signed_ok = 0;
  for (std::string line; std::getline(in, line);) {
    auto r = nlohmann::json::parse(line);
    EXPECT_TRUE(r["ok"].get<bool>()) << line;
    signed_ok += r["ok"].get<bool>() ? 1 : 0;
  }
  EXPECT_GT(signed_ok, 5);

  // cleanup removes the slot and the coordinator but keeps the publication: it is what names
  // the tables here.
  ASSERT_TRUE(RunCommand(config, {"cleanup"}, &out).success()) << out;
  EXPECT_NE(out.find("kept publication ctr_pub"), std::string::npos) << out;
  EXPECT_EQ(*pg_->QueryScalar("SELECT count(*) FROM pg_publication WHERE pubname = 'ctr_pub'"),
            "1");
  EXPECT_EQ(*pg_->QueryScalar("SELECT count(*) FROM pg_replication_slots WHERE slot_name = "
                              "'ctr_slot'"),
            "0");
}

}  // namespace
}  // namespace pg2iceberg
