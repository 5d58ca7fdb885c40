// Runs the real binary and checks what a user sees: exit codes, one-line errors, warnings
// by key name, and that no secret reaches stdout, stderr or logs at any level.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace {

struct RunOutput {
  int exit_code;
  std::string output;  // stdout and stderr together
};

RunOutput RunBinary(const std::string& args, const std::string& env = "") {
  std::string cmd = "env -i PATH=/usr/bin:/bin " + env + " " PG2I_BINARY " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string WriteConfig(const std::string& name, const std::string& yaml) {
  std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << yaml;
  return path;
}

TEST(CliTest, HelpListsTheSubcommandsThatExist) {
  RunOutput r = RunBinary("--help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("connect-pg"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("config"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--log-format"), std::string::npos) << r.output;
}

TEST(CliTest, MissingSubcommandIsAUsageError) {
  EXPECT_EQ(RunBinary("").exit_code, 2);
  EXPECT_EQ(RunBinary("no-such-command").exit_code, 2);
  EXPECT_EQ(RunBinary("--log-level loud config").exit_code, 2);
}

TEST(CliTest, InvalidConfigIsOneLineNamingTheKey) {
  std::string path = WriteConfig("bad.yaml", "sink: {flush_interval: 10}\n");
  RunOutput r = RunBinary("--config " + path + " config");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.output.rfind("error: invalid configuration: sink.flush_interval", 0), 0u)
      << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
}

TEST(CliTest, UnknownKeyIsAWarningNotAnError) {
  std::string path = WriteConfig("unknown.yaml", "sink: {turbo: true}\ntables: [{name: t}]\n");
  RunOutput r = RunBinary("--log-format json --config " + path + " config");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("\"level\":\"warn\""), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("sink.turbo"), std::string::npos) << r.output;
}

TEST(CliTest, EnvironmentOnlyConfigurationWorks) {
  RunOutput r = RunBinary("config", "PG2ICEBERG_SINK_FLUSH_ROWS=77 TABLES=public.a,b.c");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("flush_rows: 77"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("name: b.c"), std::string::npos) << r.output;
}

TEST(CliTest, NoSecretIsEverPrinted) {
  const char* secrets[] = {"yaml-pw-7f3a", "env-s3-9c1d", "env-token-2b8e", "url-pw-5e6f"};
  std::string path = WriteConfig("secrets.yaml", R"y(
source:
  postgres: {host: 127.0.0.1, port: 1, user: u, password: yaml-pw-7f3a}
sink:
  catalog_uri: http://127.0.0.1:1
  catalog_auth: bearer
tables: [{name: t}]
)y");
  const std::string env =
      "PG2ICEBERG_SINK_S3_SECRET_KEY=env-s3-9c1d PG2ICEBERG_SINK_CATALOG_TOKEN=env-token-2b8e "
      "STATE_POSTGRES_URL=postgres://c:url-pw-5e6f@127.0.0.1:1/c";
  for (const std::string args : {"config", "connect-pg"}) {
    for (const char* fmt : {"text", "json"}) {
      RunOutput r = RunBinary("--log-level debug --log-format " + std::string(fmt) + " --config " +
                            path + " " + args,
                        env);
      EXPECT_FALSE(r.output.empty());
      for (const char* s : secrets) {
        EXPECT_EQ(r.output.find(s), std::string::npos) << args << " leaked " << s << ":\n"
                                                       << r.output;
      }
    }
  }
  // Broken values elsewhere must not make the error message carry secrets either.
  RunOutput bad = RunBinary("--config " + path + " config", env + " PG2ICEBERG_SINK_FLUSH_ROWS=x");
  EXPECT_EQ(bad.exit_code, 2);
  for (const char* s : secrets) EXPECT_EQ(bad.output.find(s), std::string::npos) << s;
}

TEST(CliTest, ConnectPgFailureIsActionable) {
  std::string path = WriteConfig("down.yaml", "source: {postgres: {host: 127.0.0.1, port: 1}}\n");
  RunOutput r = RunBinary("--config " + path + " connect-pg");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("cannot connect to PostgreSQL"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("check that the server is running"), std::string::npos) << r.output;
}

}  // namespace
