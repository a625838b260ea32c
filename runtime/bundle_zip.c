/* bundle_zip.c — .zip bundles through libzip, from bytes already in memory (the loader reads
 * the archive once, bounded by PRISM_BUNDLE_MAX_ZIP_BYTES; tests and the fuzzer pass bytes
 * directly). Entries are judged in archive order like the reference (§5.2): folders skipped,
 * links and device entries (Unix mode in the external attributes) rejected, encrypted entries
 * rejected, then the shared admission checks. Sizes are enforced while inflating: each entry is
 * read in fixed chunks against the remaining byte budget and reading stops the moment the
 * running total passes it, so the header's declared size is never trusted and a zip bomb never
 * makes us allocate past the limit. Names are judged as raw bytes (no code-page guessing), so a
 * control character or invalid UTF-8 is seen, not converted to a glyph. Only stored and
 * deflated entries are read: every packer produces them, and it keeps the exotic decompressors
 * out of the attack surface. */
#include "bundle_internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#define MODE_TYPE 0170000u
#define MODE_DIR 0040000u
#define MODE_REG 0100000u
#define MODE_LINK 0120000u

static int read_entry_bytes(prism_bundle_set *s, zip_t *za, zip_uint64_t i, const char *name, const char *norm,
                            const char *label, prism_failure *err) {
  char sh[160];
  zip_file_t *zf = zip_fopen_index(za, i, 0);
  if (!zf)
    return prism_failure_set(err, "prism:bundle-zip", norm, 0, "%s: cannot read entry '%s': %s", label,
                             prism_bundle_show(sh, name), zip_strerror(za));
  size_t budget = prism_bundle_budget(s), used = 0, cap = 0;
  unsigned char *buf = NULL;
  unsigned char chunk[16384];
  int rc = 0;
  for (;;) {
    zip_int64_t r = zip_fread(zf, chunk, sizeof chunk);
    if (r < 0) {
      rc = prism_failure_set(err, "prism:bundle-zip", norm, 0, "%s: entry '%s' is corrupt: %s", label,
                             prism_bundle_show(sh, name), zip_file_strerror(zf));
      break;
    }
    if (r == 0) break;
    if ((size_t)r > budget - used) { rc = prism_bundle_fail_size(err, norm); break; }
    if (used + (size_t)r + 1 > cap) {
      size_t ncap = cap ? cap * 2 : 4096;
      if (ncap < used + (size_t)r + 1) ncap = used + (size_t)r + 1;
      if (ncap > budget + 1) ncap = budget + 1;
      unsigned char *nb = realloc(buf, ncap);
      if (!nb) { rc = prism_failure_set(err, "prism:bundle-size", norm, 0, "out of memory"); break; }
      buf = nb;
      cap = ncap;
    }
    memcpy(buf + used, chunk, (size_t)r);
    used += (size_t)r;
  }
  zip_fclose(zf);
  if (rc) { free(buf); return -1; }
  if (!buf && !(buf = malloc(1))) return prism_failure_set(err, "prism:bundle-size", norm, 0, "out of memory");
  buf[used] = '\0';
  return prism_bundle_set_add(s, norm, name, buf, used, err);
}

static int read_entry(prism_bundle_set *s, zip_t *za, zip_uint64_t i, const char *label, prism_failure *err) {
  char sh[160], norm[PRISM_BUNDLE_MAX_PATH + 1];
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(za, i, ZIP_FL_ENC_RAW, &st) != 0 || !(st.valid & ZIP_STAT_NAME) || !st.name)
    return prism_failure_set(err, "prism:bundle-zip", "", 0, "%s: entry %llu is unreadable: %s", label,
                             (unsigned long long)i + 1, zip_strerror(za));
  const char *name = st.name;
  size_t nl = strlen(name);
  zip_uint8_t opsys = 0;
  zip_uint32_t attr = 0;
  if (zip_file_get_external_attributes(za, i, 0, &opsys, &attr) != 0)
    return prism_failure_set(err, "prism:bundle-zip", "", 0, "%s: entry '%s' has unreadable attributes: %s", label,
                             prism_bundle_show(sh, name), zip_strerror(za));
  /* The reference looks at the Unix mode whatever the "made by" system says; so do we. */
  unsigned type = (attr >> 16) & MODE_TYPE;
  if (type == MODE_LINK)
    return prism_failure_set(err, "prism:bundle-symlink", "", 0,
                             "%s: entry '%s' is a symbolic link; links are not allowed in a bundle", label, prism_bundle_show(sh, name));
  if (nl > 0 && (name[nl - 1] == '/' || name[nl - 1] == '\\')) return 0; /* folders carry no content */
  if (type == MODE_DIR)
    return prism_failure_set(err, "prism:bundle-zip", "", 0,
                             "%s: entry '%s' is marked as a folder but its name has no trailing '/'", label,
                             prism_bundle_show(sh, name));
  if (type != 0 && type != MODE_REG)
    return prism_failure_set(err, "prism:bundle-symlink", "", 0,
                             "%s: entry '%s' is a device, FIFO or socket entry; only regular files are allowed",
                             label, prism_bundle_show(sh, name));
  if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
    return prism_failure_set(err, "prism:bundle-zip", "", 0,
                             "%s: entry '%s' is encrypted; encrypted entries are not allowed", label, prism_bundle_show(sh, name));
  if (prism_bundle_admit(s, name, norm, err)) return -1;
  if (!(st.valid & ZIP_STAT_COMP_METHOD) || (st.comp_method != ZIP_CM_STORE && st.comp_method != ZIP_CM_DEFLATE))
    return prism_failure_set(err, "prism:bundle-zip", norm, 0,
                             "%s: entry '%s' uses compression method %u; only stored and deflated entries are read",
                             label, prism_bundle_show(sh, name), (unsigned)st.comp_method);
  return read_entry_bytes(s, za, i, name, norm, label, err);
}

static uint64_t le(const unsigned char *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

/* libzip shows a NUL inside an entry name as a space, so NUL bytes are looked for in the raw
 * central directory. Returns 1 when a name holds one; 0 when none does or when the directory
 * cannot be located this simply (libzip has already accepted the archive's structure). */
static int names_hold_nul(const unsigned char *d, size_t size) {
  size_t lo = size > 22 + 65535 ? size - 22 - 65535 : 0;
  for (size_t e = size - 22 + 1; e-- > lo;) {
    if (memcmp(d + e, "PK\5\6", 4)) continue;
    uint64_t count = le(d + e + 10, 2), cd_size = le(d + e + 12, 4), cd_off = le(d + e + 16, 4);
    if (count == 0xffff || cd_size == 0xffffffffu || cd_off == 0xffffffffu) {
      if (e < 20 || memcmp(d + e - 20, "PK\6\7", 4)) return 0;
      uint64_t z = le(d + e - 20 + 8, 8);
      if (z > size || size - z < 56 || memcmp(d + z, "PK\6\6", 4)) return 0;
      count = le(d + z + 32, 8);
      cd_size = le(d + z + 40, 8);
      cd_off = le(d + z + 48, 8);
    }
    if (cd_off > size || cd_size > size - cd_off) return 0;
    size_t p = (size_t)cd_off, end = (size_t)(cd_off + cd_size);
    for (uint64_t i = 0; i < count; i++) {
      if (end - p < 46 || memcmp(d + p, "PK\1\2", 4)) return 0;
      size_t nl = (size_t)le(d + p + 28, 2), xl = (size_t)le(d + p + 30, 2), cl = (size_t)le(d + p + 32, 2);
      if (end - p - 46 < nl) return 0;
      if (memchr(d + p + 46, 0, nl)) return 1;
      if (end - p - 46 - nl < xl + cl) return 0;
      p += 46 + nl + xl + cl;
    }
    return 0;
  }
  return 0;
}

int prism_bundle_read_zip(prism_bundle_set *s, const void *data, size_t size, const char *label, prism_failure *err) {
  char a[32], l[32], sh[160];
  label = prism_bundle_show(sh, label);
  if (size > PRISM_BUNDLE_MAX_ZIP_BYTES)
    return prism_failure_set(err, "prism:bundle-size", "", 0, "zip archive '%s' is %s bytes; the limit is %s bytes",
                             label, prism_bundle_fmt_count(a, size), prism_bundle_fmt_count(l, PRISM_BUNDLE_MAX_ZIP_BYTES));
  /* 22 bytes is the end-of-central-directory record alone; libzip would open an empty file
   * as an empty archive, which is not what a miner meant to submit. */
  if (!data || size < 22)
    return prism_failure_set(err, "prism:bundle-zip", "", 0, "'%s' is not a valid zip archive (%zu bytes)", label, size);
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t *src = zip_source_buffer_create(data, size, 0, &ze);
  if (!src) {
    prism_failure_set(err, "prism:bundle-zip", "", 0, "'%s': %s", label, zip_error_strerror(&ze));
    zip_error_fini(&ze);
    return -1;
  }
  /* No ZIP_CHECKCONS: it refuses streamed archives (data descriptors, as macOS Archive Utility,
   * Java and `zip -` write them). Nothing but this reader ever sees the archive, and what it
   * inflates is exactly what is kept, so local/central header disagreement cannot smuggle in a
   * file other readers would see differently. */
  zip_t *za = zip_open_from_source(src, ZIP_RDONLY, &ze);
  if (!za) {
    prism_failure_set(err, "prism:bundle-zip", "", 0, "'%s' is not a valid zip archive: %s", label,
                      zip_error_strerror(&ze));
    zip_source_free(src);
    zip_error_fini(&ze);
    return -1;
  }
  zip_error_fini(&ze);
  if (names_hold_nul(data, size)) {
    zip_discard(za);
    return prism_failure_set(err, "prism:bundle-path", "", 0, "%s: an entry name contains a NUL byte", label);
  }
  zip_int64_t n = zip_get_num_entries(za, 0);
  int rc = 0;
  for (zip_int64_t i = 0; i < n && rc == 0; i++) rc = read_entry(s, za, (zip_uint64_t)i, label, err);
  zip_discard(za);
  return rc ? -1 : 0;
}
