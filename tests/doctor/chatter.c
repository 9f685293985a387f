/*
 * A loopback port where something that is not a Valkey server listens: it greets every
 * connection with an SSH banner, bytes that are neither RESP nor TLS, and closes it. Prints
 * the port, then serves until standard input closes. For doctor_test.sh (case not_valkey).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static const char BANNER[] = "SSH-2.0-OpenSSH_9.6\r\n";

int main(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(l, 16) != 0 ||
        getsockname(l, (struct sockaddr *)&a, &len) != 0) {
        perror("chatter: listen");
        return 1;
    }
    printf("%d\n", ntohs(a.sin_port));
    fflush(stdout);
    struct pollfd p[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = l, .events = POLLIN}};
    char buf[64];
    while (poll(p, 2, -1) > 0) {
        if (p[0].revents != 0 && read(STDIN_FILENO, buf, sizeof(buf)) <= 0)
            break;
        if (p[1].revents & POLLIN) {
            int c = accept(l, NULL, NULL);
            if (c >= 0 && write(c, BANNER, strlen(BANNER)) < 0)
                perror("chatter: write");
            if (c >= 0)
                close(c);
        }
    }
    close(l);
    return 0;
}
