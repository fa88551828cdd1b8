/* hostinfo — the box's own host name and LAN addresses, read from the kernel (gethostname,
 * getifaddrs over netlink), for [web] origin = auto, the web front's certificate and
 * `nvr setup`. Blocking but quick; called once at start-up or by the CLI. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The kernel's host name (uname nodename). */
char *nvr_hostinfo_hostname (GError **error);
/* The addresses of interfaces that are up, IPv4 first then IPv6, each once, as text; never
 * loopback (127.0.0.0/8, ::1), IPv6 link-local (fe80::/10: a URL cannot carry its zone) or
 * IPv4 link-local (169.254.0.0/16). May be empty (a box with no LAN yet). */
GStrv nvr_hostinfo_addresses (GError **error);

/* Both, as [web] origin = auto and the web front's certificate use them: *out_label is the host
 * name, or NULL (with one warning logged) when it is not one DNS label (nvr_config_front_hosts
 * then starts at "localhost"); *out_addresses as nvr_hostinfo_addresses(). */
gboolean nvr_hostinfo_read (char **out_label, GStrv *out_addresses, GError **error);

G_END_DECLS
