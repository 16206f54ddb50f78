/* Descriptor I/O of lib/fileio.c: whole writes and bounded reads to end of file. */
#include <errno.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "fileio.h"
#include "test.h"

TEST(write_then_read_to_eof) {
        int sv[2];
        char *buf = NULL;
        size_t len = 0;

        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        ASSERT_EQ(lf_write_fd_all(sv[0], "hello", 5), 0);
        shutdown(sv[0], SHUT_WR);
        ASSERT_EQ(lf_read_fd_all(sv[1], 64, &buf, &len), 0);
        ASSERT_EQ(len, 5);
        ASSERT_STREQ(buf, "hello");
        free(buf);
        buf = NULL;
        /* Nothing more: an empty, NUL-terminated buffer. */
        ASSERT_EQ(lf_read_fd_all(sv[1], 64, &buf, &len), 0);
        ASSERT_EQ(len, 0);
        ASSERT_STREQ(buf, "");
        free(buf);
        close(sv[0]);
        close(sv[1]);
}

TEST(read_refuses_more_than_max) {
        int sv[2];
        char data[10000], *buf = NULL;
        size_t len = 0;

        memset(data, 'x', sizeof(data));
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        ASSERT_EQ(lf_write_fd_all(sv[0], data, sizeof(data)), 0);
        shutdown(sv[0], SHUT_WR);
        ASSERT_EQ(lf_read_fd_all(sv[1], 9999, &buf, &len), -EMSGSIZE);
        ASSERT_TRUE(buf == NULL);
        close(sv[0]);
        close(sv[1]);
}

TEST(read_times_out_on_a_silent_peer) {
        struct timeval tv = {.tv_usec = 100000};
        int sv[2];
        char *buf = NULL;
        size_t len = 0;

        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        ASSERT_EQ(lf_write_fd_all(sv[0], "partial", 7), 0);
        ASSERT_EQ(lf_read_fd_all(sv[1], 64, &buf, &len), -ETIMEDOUT);
        ASSERT_TRUE(buf == NULL);
        close(sv[0]);
        close(sv[1]);
        ASSERT_EQ(lf_write_fd_all(sv[0], "x", 1), -EBADF);
}
