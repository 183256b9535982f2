// liburing 2.3 (Debian 12's liburing-dev) with the three functions mediasoup-worker 3.19
// calls that arrived in later liburing releases. The system header is included first
// (#include_next continues the search after this directory); the additions are defined
// only when the system liburing lacks its version header (IO_URING_VERSION_MAJOR comes
// with liburing 2.4), so a newer liburing is used as it is.
#ifndef MS_SHIM_LIBURING_H
#define MS_SHIM_LIBURING_H

#include_next <liburing.h>

#ifndef IO_URING_VERSION_MAJOR

// The version of the system liburing; the shim's meson.build passes the pkg-config version.
#ifndef MS_SHIM_LIBURING_MAJOR
#error "MS_SHIM_LIBURING_MAJOR must be defined by the liburing shim"
#endif
#ifndef MS_SHIM_LIBURING_MINOR
#error "MS_SHIM_LIBURING_MINOR must be defined by the liburing shim"
#endif

static inline int io_uring_major_version(void)
{
	return MS_SHIM_LIBURING_MAJOR;
}

static inline int io_uring_minor_version(void)
{
	return MS_SHIM_LIBURING_MINOR;
}

// A send with a destination address (IORING_OP_SEND with addr2/addr_len, kernel >= 6.0):
// a plain send whose destination is then set, the two helpers liburing 2.3 already has.
static inline void io_uring_prep_sendto(
  struct io_uring_sqe* sqe,
  int sockfd,
  const void* buf,
  size_t len,
  int flags,
  const struct sockaddr* addr,
  socklen_t addrlen)
{
	io_uring_prep_send(sqe, sockfd, buf, len, flags);
	io_uring_prep_send_set_addr(sqe, addr, (__u16)addrlen);
}

#endif // IO_URING_VERSION_MAJOR

#endif // MS_SHIM_LIBURING_H
