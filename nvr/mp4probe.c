/* mp4probe — placeholder. */
typedef int nvr_mp4probe_placeholder;
