/*
 * A loopback port whose connections time out, as behind a firewall that drops packets: a
 * listening socket with a backlog of 0 that never accepts, its accept queue filled by one
 * connection of its own, so the kernel drops every further SYN (it does not refuse them).
 * Prints the port, then holds it until standard input closes. For doctor_test.sh (case
 * connect_timeout).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 0) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) != 0) {
        perror("blackhole: listen");
        return 1;
    }
    /* One completed connection fills a queue of backlog 0; a blocking connect returns when
     * the handshake is done, so the queue is full once it returns. */
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) != 0) {
        perror("blackhole: connect");
        return 1;
    }
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);
    char buf[64];
    while (read(STDIN_FILENO, buf, sizeof(buf)) > 0)
        ;
    close(c);
    close(l);
    return 0;
}
