#ifndef ZK_TERM_H
#define ZK_TERM_H

#include <stddef.h>

/*
 * Reading secrets without leaving copies: no stdio buffers, no argv, no environment. Every function returns
 * the secret NUL-terminated in memory from zk_wipe_malloc (free it with zk_wipe_free), its length in *len.
 * Return values: 0 ok, -1 error (errno set), -2 too long, -3 end of input before any byte.
 */

#define ZK_TERM_LINE_MAX 4096

/* Prompts on /dev/tty and reads one line with echo off; restores the terminal on every path, signals too. */
int zk_term_read_hidden(const char *prompt, char **out, size_t *len);

/* Reads one line from fd (without the line end), byte by byte so nothing after it is consumed. */
int zk_term_read_line(int fd, char **out, size_t *len);

/* Reads all of fd, up to max bytes. */
int zk_term_read_all(int fd, size_t max, char **out, size_t *len);

/* Whether /dev/tty can be opened (there is a controlling terminal to prompt on). */
int zk_term_available(void);

#endif
