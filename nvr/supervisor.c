/* supervisor — placeholder. */
typedef int nvr_supervisor_placeholder;
