/* Tests of the appliance API's parsers without a server: request bodies (appliance/api.c) and
 * Range headers (appliance/http.c). The requests themselves are tested end to end over HTTP in
 * tests/integration/appliance-api.sh. */
#include "../../appliance/api.h"
#include "../../appliance/http.h"
#include "test.h"

static int parse(lf_api_body_kind kind, const char *body, lf_api_body *b, lf_diag *d) {
        return lf_api_parse_body(kind, body, strlen(body), d, b);
}

TEST(progress_body) {
        lf_api_body b = {};
        lf_diag d = {};

        ASSERT_EQ(parse(LF_API_BODY_PROGRESS, "{\"step\": \"[1/2] x\", \"percent\": 50}", &b, &d),
                  0);
        ASSERT_STREQ(b.step, "[1/2] x");
        ASSERT_EQ(b.percent, 50);
        ASSERT_TRUE(b.message == NULL);
        lf_api_body_clear(&b);

        ASSERT_EQ(parse(LF_API_BODY_PROGRESS, "{\"step\": \"\", \"percent\": \"5\", \"x\": 1}", &b,
                        &d),
                  -EINVAL);
        ASSERT_EQ(d.n, 3);
        ASSERT_STREQ(d.msgs[0], "request body: x: unknown key; known keys: step, percent, message");
        ASSERT_STREQ(d.msgs[1], "request body: step: must be 1 to 256 bytes long, not 0");
        ASSERT_CONTAINS(d.msgs[2], "percent: expected an integer, got a string");
        lf_diag_clear(&d);

        ASSERT_EQ(parse(LF_API_BODY_PROGRESS, "{\"step\": \"x\", \"percent\": 101}", &b, &d),
                  -EINVAL);
        ASSERT_CONTAINS(d.msgs[0], "percent");
        lf_diag_clear(&d);
        ASSERT_EQ(parse(LF_API_BODY_PROGRESS, "", &b, &d), -EINVAL);
        ASSERT_STREQ(d.msgs[0], "request body: empty; send a JSON object (see docs/api.md)");
        lf_diag_clear(&d);
        ASSERT_EQ(parse(LF_API_BODY_PROGRESS, "[1]", &b, &d), -EINVAL);
        lf_diag_clear(&d);
        ASSERT_EQ(parse(LF_API_BODY_PROGRESS, "{\"step\": \"x\", \"percent\": 1} junk", &b, &d),
                  -EINVAL);
        ASSERT_CONTAINS(d.msgs[0], "malformed JSON");
        lf_diag_clear(&d);
}

TEST(failed_body_keeps_log_lines_and_masks_control_characters) {
        lf_api_body b = {};
        lf_diag d = {};

        ASSERT_EQ(parse(LF_API_BODY_FAILED,
                        "{\"step\": \"s\\u001b[1m\", \"message\": \"m\\u0000x\","
                        " \"log\": \"a\\n\\tb\\r\\u0007\"}",
                        &b, &d),
                  0);
        ASSERT_STREQ(b.step, "s?[1m");
        ASSERT_STREQ(b.message, "m?x");
        ASSERT_STREQ(b.log, "a\n\tb??");
        lf_api_body_clear(&b);

        ASSERT_EQ(parse(LF_API_BODY_FAILED, "{\"step\": \"s\"}", &b, &d), -EINVAL);
        ASSERT_CONTAINS(d.msgs[0], "message");
        lf_diag_clear(&d);
}

TEST(empty_bodies) {
        lf_api_body b = {};
        lf_diag d = {};

        ASSERT_EQ(parse(LF_API_BODY_COMPLETE, " \n", &b, &d), 0);
        ASSERT_EQ(parse(LF_API_BODY_COMPLETE, "{}", &b, &d), 0);
        ASSERT_EQ(parse(LF_API_BODY_NONE, "{}", &b, &d), 0);
        ASSERT_EQ(parse(LF_API_BODY_NONE, "{\"mac\": 1}", &b, &d), -EINVAL);
        lf_diag_clear(&d);
        ASSERT_EQ(parse(LF_API_BODY_COMPLETE, "{\"message\": \"done\"}", &b, &d), 0);
        ASSERT_STREQ(b.message, "done");
        lf_api_body_clear(&b);
}

TEST(range_header) {
        uint64_t start = 0, len = 0;

        ASSERT_EQ(lf_http_parse_range("bytes=100-199", 1000, &start, &len), 1);
        ASSERT_EQ(start, 100);
        ASSERT_EQ(len, 100);
        ASSERT_EQ(lf_http_parse_range("bytes=900-", 1000, &start, &len), 1);
        ASSERT_EQ(len, 100);
        ASSERT_EQ(lf_http_parse_range("bytes=900-5000", 1000, &start, &len), 1);
        ASSERT_EQ(len, 100);
        ASSERT_EQ(lf_http_parse_range("bytes=-10", 1000, &start, &len), 1);
        ASSERT_EQ(start, 990);
        ASSERT_EQ(lf_http_parse_range("bytes=-5000", 1000, &start, &len), 1);
        ASSERT_EQ(start, 0);
        ASSERT_EQ(len, 1000);
        ASSERT_EQ(lf_http_parse_range("bytes=1000-", 1000, &start, &len), -ERANGE);
        ASSERT_EQ(lf_http_parse_range("bytes=-0", 1000, &start, &len), -ERANGE);
        ASSERT_EQ(lf_http_parse_range("bytes=0-", 0, &start, &len), -ERANGE);
        /* Ignored: the whole file is sent. */
        ASSERT_EQ(lf_http_parse_range(NULL, 1000, &start, &len), 0);
        ASSERT_EQ(lf_http_parse_range("bytes=5-1", 1000, &start, &len), 0);
        ASSERT_EQ(lf_http_parse_range("bytes=0-1,5-6", 1000, &start, &len), 0);
        ASSERT_EQ(lf_http_parse_range("items=0-1", 1000, &start, &len), 0);
        ASSERT_EQ(lf_http_parse_range("bytes=a-b", 1000, &start, &len), 0);
        ASSERT_EQ(lf_http_parse_range("bytes=99999999999999999999-", 1000, &start, &len), 0);
        ASSERT_EQ(lf_http_parse_range("bytes=--1", 1000, &start, &len), 0);
}
