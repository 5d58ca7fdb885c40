#include "catalog/sigv4.h"

#include <gtest/gtest.h>

#include <string>

namespace pg2iceberg::catalog {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::sys_days;
using std::chrono::sys_seconds;

// ---- The AWS Signature Version 4 test suite ----
// Every case signs with service "service", region us-east-1, 2015-08-30T12:36:00Z and the
// example key pair; expected values are the suite's published .creq/.sts/.authz contents.

constexpr char kSuiteAuthPrefix[] =
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ";
constexpr char kEmptySha[] = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr char kSuiteToken[] =
    "AQoDYXdzEPT//////////"
    "wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfI"
    "eoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/"
    "kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ"
    "0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+"
    "scqKmlzm8FD"
    "rypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

SigV4Config SuiteConfig() {
  SigV4Config c;
  c.region = "us-east-1";
  c.service = "service";
  c.credentials = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
  c.time = sys_days{std::chrono::year{2015} / 8 / 30} + hours{12} + minutes{36};
  return c;
}

SigV4Signature Sign(const SigV4Request& req, const SigV4Config& config) {
  auto r = SignRequest(req, config);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? *r : SigV4Signature{};
}

SigV4Signature SignSuite(std::string method, std::string path_and_query,
                         HttpHeaders headers = {}, std::string_view body = "") {
  SigV4Request req;
  req.method = std::move(method);
  req.url = "https://example.amazonaws.com" + path_and_query;
  req.headers = std::move(headers);
  req.body = body;
  return Sign(req, SuiteConfig());
}

std::string Lines(std::initializer_list<std::string_view> lines) {
  std::string out;
  for (std::string_view l : lines) {
    if (!out.empty()) out.push_back('\n');
    out += l;
  }
  return out;
}

TEST(SigV4SuiteTest, GetVanilla) {
  const SigV4Signature s = SignSuite("GET", "/");
  EXPECT_EQ(s.canonical_request,
            Lines({"GET", "/", "", "host:example.amazonaws.com", "x-amz-date:20150830T123600Z",
                   "", "host;x-amz-date", kEmptySha}));
  EXPECT_EQ(
      s.string_to_sign,
      Lines({"AWS4-HMAC-SHA256", "20150830T123600Z", "20150830/us-east-1/service/aws4_request",
             "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63"}));
  EXPECT_EQ(s.authorization,
            std::string(kSuiteAuthPrefix) +
                "SignedHeaders=host;x-amz-date, "
                "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  EXPECT_EQ(s.amz_date, "20150830T123600Z");
  EXPECT_EQ(s.credential_scope, "20150830/us-east-1/service/aws4_request");
  const HttpHeaders expected_headers = {{"Host", "example.amazonaws.com"},
                                        {"X-Amz-Date", "20150830T123600Z"},
                                        {"Authorization", s.authorization}};
  EXPECT_EQ(s.headers_to_add, expected_headers);
}

TEST(SigV4SuiteTest, QueryOrdering) {
  // get-vanilla-query-order-key-case
  SigV4Signature s = SignSuite("GET", "/?Param2=value2&Param1=value1");
  EXPECT_EQ(s.canonical_request.substr(0, s.canonical_request.find("\nhost")),
            "GET\n/\nParam1=value1&Param2=value2");
  EXPECT_EQ(s.string_to_sign.substr(s.string_to_sign.rfind('\n') + 1),
            "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0");
  EXPECT_EQ(s.signature, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");

  // get-vanilla-query-order-key: same name, values sorted byte-wise ("V" < "v").
  s = SignSuite("GET", "/?Param1=value2&Param1=Value1");
  EXPECT_EQ(s.canonical_request,
            Lines({"GET", "/", "Param1=Value1&Param1=value2", "host:example.amazonaws.com",
                   "x-amz-date:20150830T123600Z", "", "host;x-amz-date", kEmptySha}));
  EXPECT_EQ(s.string_to_sign.substr(s.string_to_sign.rfind('\n') + 1),
            "704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89");
  EXPECT_EQ(s.signature, "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1");

  // get-vanilla-query-order-value
  s = SignSuite("GET", "/?Param1=value2&Param1=value1");
  EXPECT_EQ(s.canonical_request,
            Lines({"GET", "/", "Param1=value1&Param1=value2", "host:example.amazonaws.com",
                   "x-amz-date:20150830T123600Z", "", "host;x-amz-date", kEmptySha}));
  EXPECT_EQ(s.signature, "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694");
}

TEST(SigV4SuiteTest, QueryEncoding) {
  // get-vanilla-query-unreserved
  const std::string unreserved =
      "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  SigV4Signature s = SignSuite("GET", "/?" + unreserved + "=" + unreserved);
  EXPECT_EQ(s.signature, "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197");

  // get-vanilla-utf8-query: the raw UTF-8 name is percent-encoded once.
  s = SignSuite("GET", "/?\xE1\x88\xB4=bar");
  EXPECT_EQ(s.canonical_request.substr(0, s.canonical_request.find("\nhost")),
            "GET\n/\n%E1%88%B4=bar");
  EXPECT_EQ(s.string_to_sign.substr(s.string_to_sign.rfind('\n') + 1),
            "eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073");
  EXPECT_EQ(s.signature, "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04");

  // post-vanilla-query
  s = SignSuite("POST", "/?Param1=value1");
  EXPECT_EQ(s.signature, "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11");
}

TEST(SigV4SuiteTest, Headers) {
  // get-header-value-trim: leading space trimmed, inner runs collapsed.
  SigV4Signature s =
      SignSuite("GET", "/", {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}});
  EXPECT_EQ(s.canonical_request,
            Lines({"GET", "/", "", "host:example.amazonaws.com", "my-header1:value1",
                   "my-header2:\"a b c\"", "x-amz-date:20150830T123600Z", "",
                   "host;my-header1;my-header2;x-amz-date", kEmptySha}));
  EXPECT_EQ(s.string_to_sign.substr(s.string_to_sign.rfind('\n') + 1),
            "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7");
  EXPECT_EQ(s.authorization,
            std::string(kSuiteAuthPrefix) +
                "SignedHeaders=host;my-header1;my-header2;x-amz-date, "
                "Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736");

  // get-header-key-duplicate: repeated names join in request order.
  s = SignSuite("GET", "/",
                {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}});
  EXPECT_NE(s.canonical_request.find("\nmy-header1:value2,value2,value1\n"), std::string::npos);
  EXPECT_EQ(s.signature, "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea");

  // get-header-value-order
  s = SignSuite("GET", "/",
                {{"My-Header1", "value4"},
                 {"My-Header1", "value1"},
                 {"My-Header1", "value3"},
                 {"My-Header1", "value2"}});
  EXPECT_EQ(s.signature, "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01");

  // post-header-key-sort and post-header-value-case (values keep their case).
  s = SignSuite("POST", "/", {{"My-Header1", "value1"}});
  EXPECT_EQ(s.signature, "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c");
  s = SignSuite("POST", "/", {{"My-Header1", "VALUE1"}});
  EXPECT_EQ(s.signature, "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d");
}

TEST(SigV4SuiteTest, PostVanilla) {
  const SigV4Signature s = SignSuite("POST", "/");
  EXPECT_EQ(s.string_to_sign.substr(s.string_to_sign.rfind('\n') + 1),
            "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87");
  EXPECT_EQ(s.authorization,
            std::string(kSuiteAuthPrefix) +
                "SignedHeaders=host;x-amz-date, "
                "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

TEST(SigV4SuiteTest, PostFormBody) {
  // post-x-www-form-urlencoded: the body is hashed into the canonical request.
  SigV4Signature s = SignSuite(
      "POST", "/", {{"Content-Type", "application/x-www-form-urlencoded"}}, "Param1=value1");
  EXPECT_EQ(s.canonical_request,
            Lines({"POST", "/", "", "content-type:application/x-www-form-urlencoded",
                   "host:example.amazonaws.com", "x-amz-date:20150830T123600Z", "",
                   "content-type;host;x-amz-date",
                   "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"}));
  EXPECT_EQ(
      s.string_to_sign,
      Lines({"AWS4-HMAC-SHA256", "20150830T123600Z", "20150830/us-east-1/service/aws4_request",
             "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281"}));
  EXPECT_EQ(s.authorization,
            std::string(kSuiteAuthPrefix) +
                "SignedHeaders=content-type;host;x-amz-date, "
                "Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");

  // post-x-www-form-urlencoded-parameters
  s = SignSuite("POST", "/",
                {{"Content-Type", "application/x-www-form-urlencoded; charset=utf8"}},
                "Param1=value1");
  EXPECT_EQ(s.string_to_sign.substr(s.string_to_sign.rfind('\n') + 1),
            "2e1cf7ed91881a30569e46552437e4156c823447bf1781b921b5d486c568dd1c");
  EXPECT_EQ(s.signature, "1a72ec8f64bd914b0e42e42607c7fbce7fb2c7465f63e3092b3b0d39fa77a6fe");
}

TEST(SigV4SuiteTest, Paths) {
  // get-unreserved
  SigV4Signature s =
      SignSuite("GET", "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
  EXPECT_EQ(s.signature, "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f");

  // get-utf8
  s = SignSuite("GET", "/\xE1\x88\xB4");
  EXPECT_EQ(s.canonical_request.substr(0, s.canonical_request.find("\n\n")), "GET\n/%E1%88%B4");
  EXPECT_EQ(s.string_to_sign.substr(s.string_to_sign.rfind('\n') + 1),
            "2a0a97d02205e45ce2e994789806b19270cfbbb0921b278ccf58f5249ac42102");
  EXPECT_EQ(s.signature, "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
}

TEST(SigV4SuiteTest, NormalizePath) {
  constexpr char kVanillaSignature[] =
      "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
  // get-slash, get-slash-dot-slash, get-relative, get-relative-relative all sign as "/".
  for (const char* path : {"//", "/./", "/example/..", "/example1/example2/../.."}) {
    const SigV4Signature s = SignSuite("GET", path);
    EXPECT_EQ(s.signature, kVanillaSignature) << path;
  }
  // get-slash-pointless-dot
  EXPECT_EQ(SignSuite("GET", "/./example").signature,
            "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5");
  // get-slashes: empty segments dropped, the trailing slash kept.
  SigV4Signature s = SignSuite("GET", "//example//");
  EXPECT_EQ(s.canonical_request.substr(0, s.canonical_request.find("\n\n")), "GET\n/example/");
  EXPECT_EQ(s.signature, "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84");
  // get-space
  s = SignSuite("GET", "/example space/");
  EXPECT_EQ(s.canonical_request.substr(0, s.canonical_request.find("\n\n")),
            "GET\n/example%20space/");
  EXPECT_EQ(s.signature, "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741");
}

TEST(SigV4SuiteTest, UnnormalizedPathAsS3SignsIt) {
  // get-slashes-unnormalized (aws-c-auth's copy of the suite): the S3 rules keep "//example//".
  SigV4Config config = SuiteConfig();
  config.path_style = SigV4PathStyle::kS3;
  SigV4Request req;
  req.method = "GET";
  req.url = "https://example.amazonaws.com//example//";
  const SigV4Signature s = Sign(req, config);
  EXPECT_EQ(s.canonical_request.substr(0, s.canonical_request.find("\n\n")),
            "GET\n//example//");
  EXPECT_EQ(s.signature, "87cca117541a147f6df867677d98a7d80dff226d2bfca9e4ffa899665623c7e5");
}

TEST(SigV4SuiteTest, SessionToken) {
  // post-sts-header-before: the token is a signed header.
  SigV4Config config = SuiteConfig();
  config.credentials.session_token = kSuiteToken;
  SigV4Request req;
  req.method = "POST";
  req.url = "https://example.amazonaws.com/";
  SigV4Signature s = Sign(req, config);
  EXPECT_EQ(s.authorization,
            std::string(kSuiteAuthPrefix) +
                "SignedHeaders=host;x-amz-date;x-amz-security-token, "
                "Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead");
  const HttpHeaders expected = {{"Host", "example.amazonaws.com"},
                                {"X-Amz-Date", "20150830T123600Z"},
                                {"X-Amz-Security-Token", kSuiteToken},
                                {"Authorization", s.authorization}};
  EXPECT_EQ(s.headers_to_add, expected);

  // post-sts-header-after: signed as post-vanilla, the token added afterwards.
  config.sign_session_token = false;
  s = Sign(req, config);
  EXPECT_EQ(s.signature, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
  EXPECT_EQ(s.headers_to_add[2],
            (std::pair<std::string, std::string>{"X-Amz-Security-Token", kSuiteToken}));

  // get-vanilla-with-session-token (aws-c-auth's suite).
  config = SuiteConfig();
  config.credentials.session_token =
      "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
  req.method = "GET";
  s = Sign(req, config);
  EXPECT_EQ(s.signed_headers, "host;x-amz-date;x-amz-security-token");
  EXPECT_EQ(s.signature, "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8");
}

// ---- Amazon S3 documentation examples (header-based auth, single chunk) ----

SigV4Config S3ExampleConfig() {
  SigV4Config c;
  c.region = "us-east-1";
  c.service = "s3";
  c.credentials = {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""};
  c.time = sys_days{std::chrono::year{2013} / 5 / 24};
  return c;
}

TEST(SigV4S3Test, GetObject) {
  SigV4Request req;
  req.method = "GET";
  req.url = "https://examplebucket.s3.amazonaws.com/test.txt";
  req.headers = {{"Range", "bytes=0-9"}};
  const SigV4Signature s = Sign(req, S3ExampleConfig());
  EXPECT_EQ(
      s.canonical_request,
      Lines({"GET", "/test.txt", "", "host:examplebucket.s3.amazonaws.com", "range:bytes=0-9",
             std::string("x-amz-content-sha256:") + kEmptySha, "x-amz-date:20130524T000000Z",
             "", "host;range;x-amz-content-sha256;x-amz-date", kEmptySha}));
  EXPECT_EQ(s.string_to_sign,
            Lines({"AWS4-HMAC-SHA256", "20130524T000000Z", "20130524/us-east-1/s3/aws4_request",
                   "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"}));
  EXPECT_EQ(s.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  EXPECT_EQ(
      s.authorization,
      "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
      "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
      "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  const HttpHeaders expected = {{"Host", "examplebucket.s3.amazonaws.com"},
                                {"X-Amz-Date", "20130524T000000Z"},
                                {"X-Amz-Content-Sha256", kEmptySha},
                                {"Authorization", s.authorization}};
  EXPECT_EQ(s.headers_to_add, expected);
}

TEST(SigV4S3Test, PutObjectWithEncodedKey) {
  SigV4Request req;
  req.method = "PUT";
  req.url = "https://examplebucket.s3.amazonaws.com/test%24file.text";
  req.headers = {{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                 {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
  req.body = "Welcome to Amazon S3.";
  const SigV4Signature s = Sign(req, S3ExampleConfig());
  EXPECT_EQ(s.canonical_request.substr(0, s.canonical_request.find("\n\n")),
            "PUT\n/test%24file.text");
  EXPECT_TRUE(s.canonical_request.ends_with(
      "\n44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"));
  EXPECT_EQ(s.signed_headers, "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");
  EXPECT_EQ(s.signature, "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");

  // The same key written unencoded on the wire signs identically under the S3 rules.
  req.url = "https://examplebucket.s3.amazonaws.com/test$file.text";
  EXPECT_EQ(Sign(req, S3ExampleConfig()).signature, s.signature);
}

TEST(SigV4S3Test, BucketSubresourceAndListing) {
  SigV4Request req;
  req.method = "GET";
  req.url = "https://examplebucket.s3.amazonaws.com/?lifecycle";
  SigV4Signature s = Sign(req, S3ExampleConfig());
  EXPECT_EQ(s.canonical_request.substr(0, s.canonical_request.find("\nhost")),
            "GET\n/\nlifecycle=");
  EXPECT_EQ(s.signature, "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");

  req.url = "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J";
  s = Sign(req, S3ExampleConfig());
  EXPECT_EQ(s.signature, "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

TEST(SigV4S3Test, UnsignedPayload) {
  SigV4Request req;
  req.method = "PUT";
  req.url = "https://examplebucket.s3.amazonaws.com/data/file.parquet";
  req.body = "ignored";
  req.payload_hash = std::string(kUnsignedPayload);
  const SigV4Signature s = Sign(req, S3ExampleConfig());
  EXPECT_TRUE(s.canonical_request.ends_with("\nUNSIGNED-PAYLOAD"));
  EXPECT_NE(s.canonical_request.find("\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n"),
            std::string::npos);
  EXPECT_EQ(s.headers_to_add[2],
            (std::pair<std::string, std::string>{"X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"}));
}

// ---- canonicalisation building blocks ----

TEST(SigV4Test, DoubleEncodingForNonS3Services) {
  // A REST catalog namespace "a\x1Fb" travels as a%1Fb; Glue/S3 Tables sign it encoded again.
  EXPECT_EQ(CanonicalUri("/v1/namespaces/a%1Fb/tables", SigV4PathStyle::kDoubleEncode),
            "/v1/namespaces/a%251Fb/tables");
  EXPECT_EQ(CanonicalUri("/v1/namespaces/a%1Fb/tables", SigV4PathStyle::kS3),
            "/v1/namespaces/a%1Fb/tables");
  EXPECT_EQ(CanonicalUri("/example%20space/", SigV4PathStyle::kDoubleEncode),
            "/example%2520space/");

  SigV4Config config = SuiteConfig();
  config.service = "glue";
  SigV4Request req;
  req.method = "GET";
  req.url = "https://glue.us-east-1.amazonaws.com/iceberg/v1/namespaces/a%1Fb";
  const SigV4Signature s = Sign(req, config);
  EXPECT_EQ(s.canonical_request.substr(0, s.canonical_request.find("\n\n")),
            "GET\n/iceberg/v1/namespaces/a%251Fb");
  EXPECT_EQ(s.signed_headers, "host;x-amz-date");  // no x-amz-content-sha256 outside S3
}

TEST(SigV4Test, S3PathsAreNotNormalised) {
  EXPECT_EQ(CanonicalUri("//archive/./2024/../2025//", SigV4PathStyle::kS3),
            "//archive/./2024/../2025//");
  EXPECT_EQ(CanonicalUri("/my bucket/ü+x", SigV4PathStyle::kS3), "/my%20bucket/%C3%BC%2Bx");
  EXPECT_EQ(CanonicalUri("", SigV4PathStyle::kS3), "/");
  EXPECT_EQ(CanonicalUri("", SigV4PathStyle::kDoubleEncode), "/");
  EXPECT_EQ(CanonicalUri("/a/b/..", SigV4PathStyle::kDoubleEncode), "/a");
  EXPECT_EQ(CanonicalUri("/a/%zz", SigV4PathStyle::kS3), "/a/%25zz");
}

TEST(SigV4Test, CanonicalQueryRules) {
  EXPECT_EQ(CanonicalQuery(""), "");
  EXPECT_EQ(CanonicalQuery("b=2&a=1&a=0"), "a=0&a=1&b=2");
  EXPECT_EQ(CanonicalQuery("uploads"), "uploads=");
  EXPECT_EQ(CanonicalQuery("prefix=a%2Fb&x=a b"), "prefix=a%2Fb&x=a%20b");
  EXPECT_EQ(CanonicalQuery("k=a+b"), "k=a%2Bb");
  EXPECT_EQ(CanonicalQuery("k=%7e&&"), "k=~");
}

TEST(SigV4Test, UriEncodeAndHashes) {
  EXPECT_EQ(UriEncode("a b/c~!*", true), "a%20b/c~%21%2A");
  EXPECT_EQ(UriEncode("a b/c", false), "a%20b%2Fc");
  EXPECT_EQ(Sha256Hex(""), kEmptySha);
  EXPECT_EQ(Sha256Hex("Param1=value1"),
            "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
  EXPECT_EQ(FormatAmzDate(sys_days{std::chrono::year{2015} / 8 / 30} + hours{12} + minutes{36}),
            "20150830T123600Z");
  EXPECT_EQ(FormatAmzDate(sys_seconds{}), "19700101T000000Z");
}

TEST(SigV4Test, HostHeaderFromUrl) {
  SigV4Request req;
  req.method = "GET";
  req.url = "http://LocalHost:9000/bucket/key?x=1#frag";
  SigV4Signature s = Sign(req, S3ExampleConfig());
  EXPECT_EQ(s.headers_to_add[0],
            (std::pair<std::string, std::string>{"Host", "localhost:9000"}));
  EXPECT_NE(s.canonical_request.find("\nhost:localhost:9000\n"), std::string::npos);
  EXPECT_EQ(s.canonical_request.substr(0, s.canonical_request.find("\nhost")),
            "GET\n/bucket/key\nx=1");

  req.url = "https://example.com:443";
  s = Sign(req, S3ExampleConfig());
  EXPECT_EQ(s.headers_to_add[0], (std::pair<std::string, std::string>{"Host", "example.com"}));
  EXPECT_EQ(s.canonical_request.substr(0, 5), "GET\n/");

  // A Host header given by the caller is used as is and not added again.
  req.headers = {{"Host", "bucket.example.com"}};
  s = Sign(req, S3ExampleConfig());
  EXPECT_EQ(s.headers_to_add[0].first, "X-Amz-Date");
  EXPECT_NE(s.canonical_request.find("\nhost:bucket.example.com\n"), std::string::npos);
}

TEST(SigV4Test, VolatileHeadersAreNotSigned) {
  SigV4Request req;
  req.method = "GET";
  req.url = "https://example.amazonaws.com/";
  req.headers = {{"User-Agent", "pg2iceberg"}, {"Expect", "100-continue"}};
  EXPECT_EQ(Sign(req, SuiteConfig()).signature,
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4Test, Errors) {
  SigV4Request ok;
  ok.method = "GET";
  ok.url = "https://example.amazonaws.com/";

  auto expect_invalid = [](const SigV4Request& req, const SigV4Config& config) {
    EXPECT_EQ(SignRequest(req, config).status().code(), StatusCode::kInvalidArgument);
  };
  SigV4Request r = ok;
  r.url = "example.amazonaws.com/";
  expect_invalid(r, SuiteConfig());
  r.url = "ftp://example.amazonaws.com/";
  expect_invalid(r, SuiteConfig());
  r.url = "https://user@example.amazonaws.com/";
  expect_invalid(r, SuiteConfig());
  r = ok;
  r.method = "";
  expect_invalid(r, SuiteConfig());
  r = ok;
  r.headers = {{"X-Amz-Date", "20150830T123600Z"}};
  expect_invalid(r, SuiteConfig());
  r.headers = {{"Authorization", "x"}};
  expect_invalid(r, SuiteConfig());
  r.headers = {{"Bad Name", "x"}};
  expect_invalid(r, SuiteConfig());
  r.headers = {{"X-Injected", "a\r\nb: c"}};
  expect_invalid(r, SuiteConfig());
  r = ok;
  r.payload_hash = "not-a-hash";
  expect_invalid(r, SuiteConfig());
  r = ok;
  r.headers = {{"x-amz-content-sha256", kEmptySha}};
  expect_invalid(r, S3ExampleConfig());             // the signer adds it for S3
  EXPECT_TRUE(SignRequest(r, SuiteConfig()).ok());  // elsewhere it is an ordinary header

  SigV4Config c = SuiteConfig();
  c.region.clear();
  expect_invalid(ok, c);
  c = SuiteConfig();
  c.credentials.secret_access_key.clear();
  expect_invalid(ok, c);
}

}  // namespace
}  // namespace pg2iceberg::catalog
