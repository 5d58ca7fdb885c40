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

// Runs in `dir` when given (the binary reads ./config.yaml by default).
RunOutput RunBinary(const std::string& args, const std::string& env = "",
                    const std::string& dir = "") {
  std::string cmd = "env -i PATH=/usr/bin:/bin " + env + " " PG2I_BINARY " " + args + " 2>&1";
  if (!dir.empty()) cmd = "cd '" + dir + "' && " + cmd;
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

// A fresh empty directory (no config.yaml in it).
std::string EmptyDir() {
  std::string pattern = ::testing::TempDir();
  while (pattern.size() > 1 && pattern.back() == '/') pattern.pop_back();
  pattern += "/pg2i-cli-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
  return pattern;
}

size_t Count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1)) {
    ++n;
  }
  return n;
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

TEST(CliTest, NoConfigFileAndNoEnvironmentIsAnErrorSayingWhatToPass) {
  const std::string dir = EmptyDir();
  const std::string expected = "error: no configuration: config.yaml not found in " + dir +
                               " and no PG2ICEBERG_* environment variables are set; pass "
                               "--config FILE (see docs/configuration.md)\n";
  for (const std::string args : {"config", "run", "connect-pg", "snapshot", "verify"}) {
    RunOutput r = RunBinary(args, "", dir);
    EXPECT_EQ(r.exit_code, 2) << args << ":\n" << r.output;
    EXPECT_EQ(r.output, expected) << args;
  }
  // The reference needs no configuration.
  RunOutput ref = RunBinary("config --reference", "", dir);
  EXPECT_EQ(ref.exit_code, 0) << ref.output;
  EXPECT_NE(ref.output.find("source.postgres.host"), std::string::npos);
}

TEST(CliTest, EnvironmentOnlyConfigurationSaysNoFileWasRead) {
  const std::string dir = EmptyDir();
  RunOutput r = RunBinary("config", "PG2ICEBERG_SOURCE_POSTGRES_HOST=db.internal", dir);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(Count(r.output, "no config file; configuration from the environment"), 1u)
      << r.output;
  EXPECT_NE(r.output.find("host: db.internal"), std::string::npos) << r.output;
  // A config.yaml in the working directory is read without a word.
  std::ofstream(dir + "/config.yaml") << "source: {postgres: {host: from-file}}\n";
  RunOutput f = RunBinary("config", "", dir);
  EXPECT_EQ(f.exit_code, 0) << f.output;
  EXPECT_NE(f.output.find("host: from-file"), std::string::npos) << f.output;
  EXPECT_EQ(f.output.find("no config file"), std::string::npos) << f.output;
}

TEST(CliTest, ExplicitConfigThatDoesNotExistNamesThePath) {
  const std::string dir = EmptyDir();
  for (const std::string env : {"", "PG2ICEBERG_SOURCE_POSTGRES_HOST=db"}) {
    RunOutput r = RunBinary("--config " + dir + "/missing.yaml config", env, dir);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("error: cannot read config file " + dir + "/missing.yaml"),
              std::string::npos)
        << r.output;
  }
}

TEST(CliTest, DuplicateKeyNamesTheFileLineAndKey) {
  std::string path = WriteConfig("dup.yaml",
                                 "source:\n"
                                 "  postgres:\n"
                                 "    host: db\n"
                                 "    port: 5432\n"
                                 "    user: u\n"
                                 "    database: d\n"
                                 "    port: 6432\n"
                                 "tables: [{name: t}, {name: public.t}, {name: t}]\n");
  RunOutput r = RunBinary("--config " + path + " config");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find(path + ":7: duplicate key source.postgres.port (first at line 4); "
                                 "remove one"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(Count(r.output, "public.t is listed"), 1u) << r.output;
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
