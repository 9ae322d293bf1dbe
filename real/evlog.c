/*
 * evlog.c - see evlog.h. Lines are written with stdio and flushed once
 * per event: a lab run kills nodes with SIGKILL and must still read every
 * event a node reported before it died.
 */
#include "evlog.h"

FILE *evlog_open(const char *path) {
  FILE *f = fopen(path, "a");
  if (!f) return NULL;
  if (ftell(f) == 0)
    fputs("t_s,event,peer,content,kind,variant,job,bytes,count,duration_ms,"
          "flags,rc\n",
          f);
  return f;
}

void evlog_write(FILE *f, const vss_event *ev) {
  char peer[VSS_UUID_STR_LEN + 1] = "", content[VSS_UUID_STR_LEN + 1] = "";
  const char *kind = "";
  if (!f) return;
  if (!vss_uuid_is_nil(&ev->peer)) vss_uuid_format(&ev->peer, peer);
  if (!vss_uuid_is_nil(&ev->key.content)) {
    vss_uuid_format(&ev->key.content, content);
    kind = vss_kind_name(ev->key.kind);
  }
  fprintf(f, "%.9f,%s,%s,%s,%s,%s,%llu,%llu,%llu,%.6f,%u,%d\n",
          (double)ev->at / 1e9, vss_event_name(ev->type), peer, content,
          kind ? kind : "", content[0] ? ev->key.variant : "",
          (unsigned long long)ev->job, (unsigned long long)ev->bytes,
          (unsigned long long)ev->count, (double)ev->duration / 1e6, ev->flags,
          ev->rc);
  fflush(f);
}
