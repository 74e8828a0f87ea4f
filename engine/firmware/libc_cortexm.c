/* The C library pieces of the Cortex-M firmware that newlib would take from the heap, written here
 * instead: printf, vprintf, puts and putchar (the compiler turns some printf calls into the last two),
 * abort and assert's __assert_func, and the _exit behind exit().
 *
 * Why not newlib-nano's stdio: it allocates its FILE objects (436 bytes) and the stdout buffer (1 KB)
 * from the heap on first use, and its printf has no %llu. This one needs no heap (the firmware has
 * none: a malloc anywhere fails to link for want of _sbrk), a few hundred bytes of stack, and sends
 * each printf to the console in chunks of 64 bytes. Other stdio calls (fprintf, fputs, fflush) still
 * reach newlib's FILE objects and fail to link for the same reason.
 *
 * Formats: flags - + space 0 #, width and precision (numbers or *), lengths hh h l ll z j t, and the
 * conversions d i u o x X c s p %. Floating-point conversions print "<float>": print scaled integers.
 *
 * Printing is never on a timed path, so this file is optimised for size whatever the build level. */
#pragma GCC optimize("Os")

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "tn_board.h"
#include "tn_cortexm.h"

/* Output of one call, buffered so that the console (a semihosting call, a polling UART) sees a few
 * large writes rather than one per character. */
struct tn_out {
  char buf[64];
  size_t used;
  int count;
};

static void tn_flush(struct tn_out* o) {
  if (o->used) tn_board_console_write(o->buf, o->used);
  o->used = 0;
}

static void tn_put(struct tn_out* o, char c) {
  o->buf[o->used++] = c;
  ++o->count;
  if (o->used == sizeof o->buf) tn_flush(o);
}

static void tn_repeat(struct tn_out* o, char c, int n) {
  while (n-- > 0) tn_put(o, c);
}

enum { TN_LEFT = 1, TN_PLUS = 2, TN_SPACE = 4, TN_ZERO = 8, TN_ALT = 16 };

/* One integer conversion; `negative` and `magnitude` split the signed case. */
static void tn_integer(struct tn_out* o, uint64_t magnitude, int negative, unsigned base, int upper, int flags,
                       int width, int precision) {
  char digits[24]; /* 2^64 in octal: 22 digits */
  int n = 0;
  const char* const symbols = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  /* 32-bit division where it suffices: it is much smaller and faster than the 64-bit one. */
  if (magnitude <= UINT32_MAX) {
    for (uint32_t v = (uint32_t)magnitude; v; v /= base) digits[n++] = symbols[v % base];
  } else {
    for (uint64_t v = magnitude; v; v /= base) digits[n++] = symbols[v % base];
  }
  if (precision < 0) precision = 1; /* "%.0d" of 0 prints nothing, "%d" of 0 prints "0" */

  char prefix[2];
  int prefix_len = 0;
  if (negative)
    prefix[prefix_len++] = '-';
  else if (flags & TN_PLUS)
    prefix[prefix_len++] = '+';
  else if (flags & TN_SPACE)
    prefix[prefix_len++] = ' ';
  if ((flags & TN_ALT) && base == 16 && magnitude) {
    prefix[prefix_len++] = '0';
    prefix[prefix_len++] = upper ? 'X' : 'x';
  }
  if ((flags & TN_ALT) && base == 8 && precision <= n) precision = n + 1; /* a leading 0 */

  const int zeros = precision > n ? precision - n : 0;
  const int pad = width - prefix_len - zeros - n;
  if (!(flags & TN_LEFT) && !(flags & TN_ZERO)) tn_repeat(o, ' ', pad);
  for (int i = 0; i < prefix_len; ++i) tn_put(o, prefix[i]);
  if (!(flags & TN_LEFT) && (flags & TN_ZERO)) tn_repeat(o, '0', pad);
  tn_repeat(o, '0', zeros);
  while (n) tn_put(o, digits[--n]);
  if (flags & TN_LEFT) tn_repeat(o, ' ', pad);
}

static void tn_text(struct tn_out* o, const char* s, int len, int flags, int width) {
  if (!(flags & TN_LEFT)) tn_repeat(o, ' ', width - len);
  for (int i = 0; i < len; ++i) tn_put(o, s[i]);
  if (flags & TN_LEFT) tn_repeat(o, ' ', width - len);
}

int vprintf(const char* format, va_list args) {
  struct tn_out o;
  o.used = 0;
  o.count = 0;
  va_list ap;
  va_copy(ap, args);
  for (const char* f = format; *f; ++f) {
    if (*f != '%') {
      tn_put(&o, *f);
      continue;
    }
    const char* const start = f++;
    int flags = 0;
    for (;; ++f) {
      if (*f == '-') flags |= TN_LEFT;
      else if (*f == '+') flags |= TN_PLUS;
      else if (*f == ' ') flags |= TN_SPACE;
      else if (*f == '0') flags |= TN_ZERO;
      else if (*f == '#') flags |= TN_ALT;
      else break;
    }
    int width = 0;
    if (*f == '*') {
      width = va_arg(ap, int);
      if (width < 0) {
        flags |= TN_LEFT;
        width = -width;
      }
      ++f;
    } else {
      while (*f >= '0' && *f <= '9') width = 10 * width + (*f++ - '0');
    }
    int precision = -1;
    if (*f == '.') {
      ++f;
      precision = 0;
      if (*f == '*') {
        precision = va_arg(ap, int);
        ++f;
      } else {
        while (*f >= '0' && *f <= '9') precision = 10 * precision + (*f++ - '0');
      }
      if (precision >= 0) flags &= ~TN_ZERO; /* C99: a precision disables 0-padding of integers */
    }
    enum { TN_INT, TN_CHAR, TN_SHORT, TN_LONG, TN_LLONG, TN_SIZE, TN_INTMAX, TN_PTRDIFF } length = TN_INT;
    if (*f == 'h') {
      length = *++f == 'h' ? TN_CHAR : TN_SHORT;
      if (length == TN_CHAR) ++f;
    } else if (*f == 'l') {
      length = *++f == 'l' ? TN_LLONG : TN_LONG;
      if (length == TN_LLONG) ++f;
    } else if (*f == 'z') {
      length = TN_SIZE;
      ++f;
    } else if (*f == 'j') {
      length = TN_INTMAX;
      ++f;
    } else if (*f == 't') {
      length = TN_PTRDIFF;
      ++f;
    }
    switch (*f) {
      case 'd':
      case 'i': {
        int64_t v;
        switch (length) {
          case TN_CHAR: v = (signed char)va_arg(ap, int); break;
          case TN_SHORT: v = (short)va_arg(ap, int); break;
          case TN_LONG: v = va_arg(ap, long); break;
          case TN_LLONG: v = va_arg(ap, long long); break;
          case TN_INTMAX: v = va_arg(ap, intmax_t); break;
          case TN_SIZE:
          case TN_PTRDIFF: v = va_arg(ap, ptrdiff_t); break;
          default: v = va_arg(ap, int); break;
        }
        const uint64_t magnitude = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
        tn_integer(&o, magnitude, v < 0, 10, 0, flags, width, precision);
        break;
      }
      case 'u':
      case 'o':
      case 'x':
      case 'X': {
        uint64_t v;
        switch (length) {
          case TN_CHAR: v = (unsigned char)va_arg(ap, unsigned); break;
          case TN_SHORT: v = (unsigned short)va_arg(ap, unsigned); break;
          case TN_LONG: v = va_arg(ap, unsigned long); break;
          case TN_LLONG: v = va_arg(ap, unsigned long long); break;
          case TN_INTMAX: v = va_arg(ap, uintmax_t); break;
          case TN_SIZE:
          case TN_PTRDIFF: v = va_arg(ap, size_t); break;
          default: v = va_arg(ap, unsigned); break;
        }
        const unsigned base = *f == 'u' ? 10 : *f == 'o' ? 8 : 16;
        tn_integer(&o, v, 0, base, *f == 'X', flags & ~(TN_PLUS | TN_SPACE), width, precision);
        break;
      }
      case 'p':
        tn_integer(&o, (uintptr_t)va_arg(ap, void*), 0, 16, 0, TN_ALT, width, precision);
        break;
      case 'c': {
        const char c = (char)va_arg(ap, int);
        tn_text(&o, &c, 1, flags, width);
        break;
      }
      case 's': {
        const char* s = va_arg(ap, const char*);
        if (!s) s = "(null)";
        int len = 0;
        while (s[len] && (precision < 0 || len < precision)) ++len;
        tn_text(&o, s, len, flags, width);
        break;
      }
      case '%':
        tn_put(&o, '%');
        break;
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G':
      case 'a':
      case 'A':
        (void)va_arg(ap, double);
        tn_text(&o, "<float>", 7, flags, width);
        break;
      default:
        /* Unknown or truncated: print it as written. */
        for (const char* c = start; c <= f && *c; ++c) tn_put(&o, *c);
        if (!*f) --f;
        break;
    }
  }
  va_end(ap);
  tn_flush(&o);
  return o.count;
}

int printf(const char* format, ...) {
  va_list args;
  va_start(args, format);
  const int n = vprintf(format, args);
  va_end(args);
  return n;
}

int puts(const char* s) {
  size_t n = 0;
  while (s[n]) ++n;
  tn_board_console_write(s, n);
  tn_board_console_write("\n", 1);
  return (int)n + 1;
}

int putchar(int c) {
  const char ch = (char)c;
  tn_board_console_write(&ch, 1);
  return (unsigned char)ch;
}

/* exit() ends here, after newlib has run the atexit handlers. */
void _exit(int code);
void _exit(int code) {
  tn_board_exit(code);
  for (;;) {
  }
}

/* newlib's abort() raises SIGABRT through a signal table it allocates, and its assert() prints with
 * fiprintf to stderr: both would need the heap. These end the run the same way, 134 being the status
 * a host shell reports for SIGABRT. */
void abort(void) {
  tn_board_exit(128 + 6);
  for (;;) {
  }
}

void __assert_func(const char* file, int line, const char* function, const char* expression);
void __assert_func(const char* file, int line, const char* function, const char* expression) {
  printf("assertion \"%s\" failed: file \"%s\", line %d%s%s\n", expression, file, line,
         function ? ", function: " : "", function ? function : "");
  abort();
}
