/* hostinfo — the box's host name and LAN addresses (see hostinfo.h). Runs on the caller's
 * thread (the daemon's start-up, the CLI); the only I/O is two system calls. The choice of
 * what to do with them is config.c's (nvr_config_front_hosts), which is pure. */
#define G_LOG_DOMAIN "nvr-hostinfo"

#include "hostinfo.h"

#include <gio/gio.h>

#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

char *
nvr_hostinfo_hostname (GError **error)
{
  char buf[256];
  if (gethostname (buf, sizeof buf - 1) != 0) {
    int e = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "Failed to read the host name: %s",
                 g_strerror (e));
    return NULL;
  }
  buf[sizeof buf - 1] = '\0';
  return g_strdup (buf);
}

static gboolean
address_wanted (const struct sockaddr *sa)
{
  if (sa->sa_family == AF_INET) {
    guint32 a = ntohl (((const struct sockaddr_in *) sa)->sin_addr.s_addr);
    return (a >> 24) != 127 && (a >> 16) != 0xa9fe && a != 0;
  }
  if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *) sa)->sin6_addr;
    return !IN6_IS_ADDR_LOOPBACK (a) && !IN6_IS_ADDR_LINKLOCAL (a) &&
           !IN6_IS_ADDR_UNSPECIFIED (a) && !IN6_IS_ADDR_V4MAPPED (a);
  }
  return FALSE;
}

GStrv
nvr_hostinfo_addresses (GError **error)
{
  struct ifaddrs *list = NULL;
  if (getifaddrs (&list) != 0) {
    int e = errno;
    g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e),
                 "Failed to list the network interfaces: %s", g_strerror (e));
    return NULL;
  }
  g_autoptr (GPtrArray) out = g_ptr_array_new_with_free_func (g_free);
  for (int family = 0; family < 2; family++) {
    int want = family == 0 ? AF_INET : AF_INET6;
    for (struct ifaddrs *i = list; i != NULL; i = i->ifa_next) {
      if (i->ifa_addr == NULL || i->ifa_addr->sa_family != want || !(i->ifa_flags & IFF_UP) ||
          (i->ifa_flags & IFF_LOOPBACK) || !address_wanted (i->ifa_addr))
        continue;
      char buf[INET6_ADDRSTRLEN];
      const void *a = want == AF_INET
                          ? (const void *) &((struct sockaddr_in *) i->ifa_addr)->sin_addr
                          : (const void *) &((struct sockaddr_in6 *) i->ifa_addr)->sin6_addr;
      if (inet_ntop (want, a, buf, sizeof buf) == NULL)
        continue;
      gboolean seen = FALSE;
      for (guint j = 0; j < out->len && !seen; j++)
        seen = strcmp (out->pdata[j], buf) == 0;
      if (!seen)
        g_ptr_array_add (out, g_strdup (buf));
    }
  }
  freeifaddrs (list);
  g_ptr_array_add (out, NULL);
  return (GStrv) g_ptr_array_free (g_steal_pointer (&out), FALSE);
}

gboolean
nvr_hostinfo_read (char **out_label, GStrv *out_addresses, GError **error)
{
  g_autofree char *host = nvr_hostinfo_hostname (error);
  if (host == NULL)
    return FALSE;
  g_auto (GStrv) addrs = nvr_hostinfo_addresses (error);
  if (addrs == NULL)
    return FALSE;
  if (!nvr_config_host_label_valid (host)) {
    g_warning ("The host name '%s' is not one DNS label of [a-z0-9-]: the box is served as "
               "localhost and by its addresses only, not as '%s' or '%s.local'", host, host, host);
    g_clear_pointer (&host, g_free);
  }
  *out_label = g_steal_pointer (&host);
  *out_addresses = g_steal_pointer (&addrs);
  return TRUE;
}
