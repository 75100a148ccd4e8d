/* version.h - the one version number of all three programs (--version,
 * the server's health answer, the client's User-Agent). */
#ifndef RSVAULT_VERSION_H
#define RSVAULT_VERSION_H

#define RSVAULT_VERSION "0.1.0"

#endif
