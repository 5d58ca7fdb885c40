// Subprocess, TempDir and FreeLoopbackPort: the plumbing every server fixture relies on.
#include "fixtures/subprocess.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "fixtures/gtest_support.h"
#include "fixtures/net.h"
#include "fixtures/temp_dir.h"

namespace pg2iceberg::fixtures {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Alive and not a zombie (an orphan's zombie lingers until init reaps it).
bool ProcessAlive(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size()) return false;
  return stat[paren + 2] != 'Z' && stat[paren + 2] != 'X';
}

TEST(SubprocessTest, RunsWithEnvironmentAndLogsOutput) {
  PG2I_ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("pg2i-subprocess-"));
  SubprocessOptions options;
  options.argv = {"sh", "-c", "echo out:$PG2I_SUBPROCESS_TEST; echo err >&2; pwd; exit 3"};
  options.env = {{"PG2I_SUBPROCESS_TEST", "hello"}};
  options.log_path = (dir.path() / "log").string();
  options.working_dir = dir.str();
  PG2I_ASSERT_OK_AND_ASSIGN(ExitStatus exit, RunToCompletion(options, seconds(10)));
  EXPECT_FALSE(exit.signaled);
  EXPECT_EQ(exit.code, 3);
  EXPECT_FALSE(exit.success());
  EXPECT_EQ(ReadFile(dir.path() / "log"), "out:hello\nerr\n" + dir.str() + "\n");
}

TEST(SubprocessTest, MissingBinaryIsAnError) {
  SubprocessOptions options;
  options.argv = {"/nonexistent/pg2i-no-such-binary"};
  auto process = Subprocess::Start(options);
  ASSERT_FALSE(process.ok());
  EXPECT_EQ(process.status().code(), StatusCode::kInvalidArgument);

  options.argv = {"sh"};
  options.working_dir = "/nonexistent/dir";
  process = Subprocess::Start(options);
  ASSERT_FALSE(process.ok());
  EXPECT_NE(process.status().message().find("chdir"), std::string::npos)
      << process.status().ToString();
}

TEST(SubprocessTest, TerminateKillsTheWholeGroup) {
  PG2I_ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("pg2i-subprocess-"));
  std::string pid_file = (dir.path() / "grandchild.pid").string();
  SubprocessOptions options;
  // The grandchild ignores SIGTERM, so only the group SIGKILL after the grace period ends it.
  options.argv = {"sh", "-c",
                  "sh -c 'trap \"\" TERM; echo $$ > " + pid_file +
                      "; while true; do sleep 0.05; done' & wait"};
  PG2I_ASSERT_OK_AND_ASSIGN(auto process, Subprocess::Start(options));
  Status ready = WaitUntilReady(*process, "grandchild", seconds(10), [&] {
    std::error_code ec;
    auto size = std::filesystem::file_size(pid_file, ec);
    return !ec && size > 0;
  });
  ASSERT_TRUE(ready.ok()) << ready.ToString();
  pid_t grandchild = std::stoi(ReadFile(pid_file));
  ASSERT_TRUE(ProcessAlive(grandchild));

  PG2I_ASSERT_OK_AND_ASSIGN(ExitStatus exit, process->Terminate(milliseconds(300)));
  EXPECT_TRUE(exit.signaled);
  EXPECT_TRUE(process->HasExited());
  // SIGKILL is asynchronous; give it a moment.
  for (int i = 0; i < 100 && ProcessAlive(grandchild); ++i) {
    std::this_thread::sleep_for(milliseconds(20));
  }
  EXPECT_FALSE(ProcessAlive(grandchild)) << "grandchild " << grandchild << " survived";
}

TEST(SubprocessTest, DestructorTearsDown) {
  pid_t pid;
  {
    SubprocessOptions options;
    options.argv = {"sleep", "300"};
    PG2I_ASSERT_OK_AND_ASSIGN(auto process, Subprocess::Start(options));
    pid = process->pid();
    EXPECT_FALSE(process->HasExited());
    auto wait = process->Wait(milliseconds(50));
    EXPECT_EQ(wait.status().code(), StatusCode::kUnavailable);
  }
  EXPECT_FALSE(ProcessAlive(pid));
}

TEST(SubprocessTest, WaitUntilReadyReportsEarlyExit) {
  PG2I_ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("pg2i-subprocess-"));
  SubprocessOptions options;
  options.argv = {"sh", "-c", "echo bind: address already in use; exit 1"};
  options.log_path = (dir.path() / "log").string();
  PG2I_ASSERT_OK_AND_ASSIGN(auto process, Subprocess::Start(options));
  Status status = WaitUntilReady(*process, "never-ready", seconds(10), [] { return false; });
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition) << status.ToString();
  EXPECT_NE(status.message().find("exited with code 1"), std::string::npos)
      << status.ToString();
  EXPECT_TRUE(IsAddressInUse(status)) << status.ToString();
}

TEST(TempDirTest, RemovesRecursivelyAndMoves) {
  std::filesystem::path path;
  {
    PG2I_ASSERT_OK_AND_ASSIGN(TempDir dir, TempDir::Create("pg2i-tempdir-"));
    path = dir.path();
    EXPECT_EQ(path.filename().string().rfind("pg2i-tempdir-", 0), 0u);
    std::filesystem::create_directories(path / "a" / "b");
    std::ofstream(path / "a" / "b" / "f") << "x";
    TempDir moved = std::move(dir);
    EXPECT_TRUE(dir.path().empty());
    EXPECT_EQ(moved.path(), path);
    EXPECT_TRUE(std::filesystem::exists(path / "a" / "b" / "f"));
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(TempDirTest, SweepsDirectoriesOfDeadOwners) {
  // A pid that is certainly dead: a child that has exited and been reaped.
  SubprocessOptions options;
  options.argv = {"true"};
  PG2I_ASSERT_OK_AND_ASSIGN(auto process, Subprocess::Start(options));
  pid_t dead = process->pid();
  PG2I_ASSERT_OK(process->Wait(seconds(10)));
  process.reset();

  PG2I_ASSERT_OK_AND_ASSIGN(TempDir orphan, TempDir::Create("pg2i-orphan-"));
  PG2I_ASSERT_OK_AND_ASSIGN(TempDir alive, TempDir::Create("pg2i-alive-"));
  std::ofstream(orphan.path() / ".pg2i-owner", std::ios::trunc) << dead << "\n";
  std::filesystem::path orphan_path = orphan.path();
  // Release `orphan` without removing it, as a killed process would.
  std::filesystem::path keep = orphan.path().string() + "-keep";
  std::filesystem::rename(orphan_path, keep);
  PG2I_ASSERT_OK(orphan.Remove());
  std::filesystem::rename(keep, orphan_path);
  ASSERT_TRUE(std::filesystem::exists(orphan_path));

  PG2I_ASSERT_OK_AND_ASSIGN(TempDir trigger, TempDir::Create("pg2i-trigger-"));
  EXPECT_FALSE(std::filesystem::exists(orphan_path));
  EXPECT_TRUE(std::filesystem::exists(alive.path()));
}

TEST(FreeLoopbackPortTest, PortIsBindable) {
  PG2I_ASSERT_OK_AND_ASSIGN(int port, FreeLoopbackPort());
  EXPECT_GT(port, 1024);
  EXPECT_LT(port, 65536);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  close(fd);
}

TEST(HttpTest, RefusedConnectionIsUnavailable) {
  PG2I_ASSERT_OK_AND_ASSIGN(int port, FreeLoopbackPort());
  auto response = HttpGet("http://127.0.0.1:" + std::to_string(port) + "/", seconds(5));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
}

}  // namespace
}  // namespace pg2iceberg::fixtures
