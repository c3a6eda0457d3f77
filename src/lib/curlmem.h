#ifndef ZK_CURLMEM_H
#define ZK_CURLMEM_H

/*
 * libcurl with a wiping allocator: every buffer libcurl allocates (receive buffers, the header lists that hold
 * tokens and injected secrets) goes through zk_wipe_malloc and is wiped when freed. Initialises libcurl once per
 * process (later calls return the first result); call zk_mem_init() first. src/lib/client.c has its own
 * equivalent for the CLI; a process uses one or the other.
 */
int zk_curl_global_init(void);

#endif
