package dev.pg2iceberg.tools;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.nio.ByteBuffer;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.LocalTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.Collection;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import org.apache.iceberg.StructLike;
import org.apache.iceberg.data.Record;
import org.apache.iceberg.types.Type;
import org.apache.iceberg.types.Types;
import org.apache.iceberg.util.DateTimeUtil;

/**
 * The canonical text rendering shared by all readers (tools/python/pg2i_tsv.py implements the
 * same rules; keep them in step). See tools/README.md for the rules.
 */
final class Render {
  static final String NULL = "\\N";

  private Render() {}

  /** Code-point (= UTF-8 byte) order, the order Python's sorted() uses for str. */
  static final Comparator<String> CODE_POINT_ORDER =
      (a, b) -> {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
          int ca = a.codePointAt(i);
          int cb = b.codePointAt(j);
          if (ca != cb) {
            return Integer.compare(ca, cb);
          }
          i += Character.charCount(ca);
          j += Character.charCount(cb);
        }
        return Integer.compare(a.length() - i, b.length() - j);
      };

  /** TSV field for a value of a generic Record (IcebergGenerics representation). */
  static String tsvField(Type type, Object value) {
    if (value == null) {
      return NULL;
    }
    switch (type.typeId()) {
      case BINARY:
      case FIXED:
        return hex(value);
      case STRUCT:
      case LIST:
      case MAP:
        return escapeTsv(json(type, value));
      default:
        return escapeTsv(scalar(type, value));
    }
  }

  static String escapeTsv(String s) {
    StringBuilder sb = new StringBuilder(s.length() + 8);
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '\\':
          sb.append("\\\\");
          break;
        case '\t':
          sb.append("\\t");
          break;
        case '\n':
          sb.append("\\n");
          break;
        case '\r':
          sb.append("\\r");
          break;
        default:
          sb.append(c);
      }
    }
    return sb.toString();
  }

  /** Text of a non-null primitive value (generic Record representation), before TSV escaping. */
  static String scalar(Type type, Object v) {
    switch (type.typeId()) {
      case BOOLEAN:
        return ((Boolean) v) ? "true" : "false";
      case INTEGER:
      case LONG:
        return v.toString();
      case FLOAT:
        return formatFloat((Float) v);
      case DOUBLE:
        return formatDouble((Double) v);
      case DECIMAL:
        return ((BigDecimal) v).toPlainString();
      case STRING:
        return v.toString();
      case BINARY:
      case FIXED:
        return hex(v);
      case DATE:
        return date((LocalDate) v);
      case TIME:
        return time((LocalTime) v);
      case TIMESTAMP:
      case TIMESTAMP_NANO:
        if (v instanceof OffsetDateTime) {
          LocalDateTime utc =
              ((OffsetDateTime) v).withOffsetSameInstant(ZoneOffset.UTC).toLocalDateTime();
          return timestamp(utc) + "+00";
        }
        return timestamp((LocalDateTime) v);
      case UUID:
        return v.toString().toLowerCase(java.util.Locale.ROOT);
      default:
        return String.valueOf(v);
    }
  }

  /**
   * Text of a value in Iceberg's internal representation (what Conversions.fromByteBuffer returns
   * for bounds and partition values): dates as days, times and timestamps as micros/nanos.
   */
  static String internal(Type type, Object v) {
    if (v == null) {
      return null;
    }
    switch (type.typeId()) {
      case DATE:
        return date(DateTimeUtil.dateFromDays((Integer) v));
      case TIME:
        return time(DateTimeUtil.timeFromMicros((Long) v));
      case TIMESTAMP:
        return ((Types.TimestampType) type).shouldAdjustToUTC()
            ? timestamp(DateTimeUtil.timestamptzFromMicros((Long) v).toLocalDateTime()) + "+00"
            : timestamp(DateTimeUtil.timestampFromMicros((Long) v));
      case TIMESTAMP_NANO:
        return ((Types.TimestampNanoType) type).shouldAdjustToUTC()
            ? timestamp(DateTimeUtil.timestamptzFromNanos((Long) v).toLocalDateTime()) + "+00"
            : timestamp(DateTimeUtil.timestampFromNanos((Long) v));
      default:
        return scalar(type, v);
    }
  }

  static String date(LocalDate d) {
    return String.format("%04d-%02d-%02d", d.getYear(), d.getMonthValue(), d.getDayOfMonth());
  }

  static String time(LocalTime t) {
    return String.format("%02d:%02d:%02d", t.getHour(), t.getMinute(), t.getSecond())
        + fraction(t.getNano());
  }

  static String timestamp(LocalDateTime ts) {
    return date(ts.toLocalDate()) + " " + time(ts.toLocalTime());
  }

  private static String fraction(int nanos) {
    if (nanos == 0) {
      return "";
    }
    if (nanos % 1000 == 0) {
      return String.format(".%06d", nanos / 1000);
    }
    return String.format(".%09d", nanos);
  }

  static String hex(Object v) {
    byte[] bytes;
    if (v instanceof ByteBuffer) {
      ByteBuffer bb = ((ByteBuffer) v).duplicate();
      bytes = new byte[bb.remaining()];
      bb.get(bytes);
    } else {
      bytes = (byte[]) v;
    }
    final String digits = "0123456789ABCDEF";
    StringBuilder sb = new StringBuilder(2 + bytes.length * 2);
    sb.append("\\x");
    for (byte b : bytes) {
      sb.append(digits.charAt((b >> 4) & 0xF)).append(digits.charAt(b & 0xF));
    }
    return sb.toString();
  }

  // ---- floating point: shortest round-trip digits, laid out like Python's repr() ----

  static String formatDouble(double d) {
    if (Double.isNaN(d)) {
      return "NaN";
    }
    if (Double.isInfinite(d)) {
      return d > 0 ? "Infinity" : "-Infinity";
    }
    if (d == 0.0) {
      return (Double.doubleToRawLongBits(d) < 0) ? "-0.0" : "0.0";
    }
    BigDecimal exact = new BigDecimal(d);
    for (int p = 1; p <= 17; p++) {
      BigDecimal r = exact.round(new MathContext(p, RoundingMode.HALF_EVEN));
      if (r.doubleValue() == d) {
        return layout(r);
      }
    }
    return layout(exact.round(new MathContext(17, RoundingMode.HALF_EVEN)));
  }

  static String formatFloat(float f) {
    if (Float.isNaN(f)) {
      return "NaN";
    }
    if (Float.isInfinite(f)) {
      return f > 0 ? "Infinity" : "-Infinity";
    }
    if (f == 0.0f) {
      return (Float.floatToRawIntBits(f) < 0) ? "-0.0" : "0.0";
    }
    BigDecimal exact = new BigDecimal((double) f);
    for (int p = 1; p <= 9; p++) {
      BigDecimal r = exact.round(new MathContext(p, RoundingMode.HALF_EVEN));
      if (r.floatValue() == f) {
        return layout(r);
      }
    }
    return layout(exact.round(new MathContext(9, RoundingMode.HALF_EVEN)));
  }

  /** Python repr() layout: fixed notation for decimal exponents -4..15, else d.ddde[+-]XX. */
  private static String layout(BigDecimal r) {
    BigDecimal s = r.stripTrailingZeros();
    String digits = s.unscaledValue().abs().toString();
    int exp = digits.length() - 1 - s.scale();
    StringBuilder sb = new StringBuilder();
    if (s.signum() < 0) {
      sb.append('-');
    }
    if (exp >= 16 || exp < -4) {
      sb.append(digits.charAt(0));
      if (digits.length() > 1) {
        sb.append('.').append(digits, 1, digits.length());
      }
      sb.append('e').append(exp < 0 ? '-' : '+');
      int a = Math.abs(exp);
      if (a < 10) {
        sb.append('0');
      }
      sb.append(a);
    } else if (exp >= 0) {
      if (digits.length() <= exp + 1) {
        sb.append(digits);
        for (int i = digits.length(); i <= exp; i++) {
          sb.append('0');
        }
        sb.append(".0");
      } else {
        sb.append(digits, 0, exp + 1).append('.').append(digits, exp + 1, digits.length());
      }
    } else {
      sb.append("0.");
      for (int i = 0; i < -exp - 1; i++) {
        sb.append('0');
      }
      sb.append(digits);
    }
    return sb.toString();
  }

  // ---- nested values as JSON-ish text ----

  static String json(Type type, Object v) {
    StringBuilder sb = new StringBuilder();
    appendJson(sb, type, v);
    return sb.toString();
  }

  private static void appendJson(StringBuilder sb, Type type, Object v) {
    if (v == null) {
      sb.append("null");
      return;
    }
    switch (type.typeId()) {
      case STRUCT:
        {
          List<Types.NestedField> fields = type.asStructType().fields();
          sb.append('{');
          for (int i = 0; i < fields.size(); i++) {
            if (i > 0) {
              sb.append(", ");
            }
            Types.NestedField f = fields.get(i);
            Object fv =
                (v instanceof Record)
                    ? ((Record) v).getField(f.name())
                    : ((StructLike) v).get(i, Object.class);
            jsonString(sb, f.name());
            sb.append(": ");
            appendJson(sb, f.type(), fv);
          }
          sb.append('}');
          return;
        }
      case LIST:
        {
          Type elem = type.asListType().elementType();
          sb.append('[');
          boolean first = true;
          for (Object e : (Collection<?>) v) {
            if (!first) {
              sb.append(", ");
            }
            first = false;
            appendJson(sb, elem, e);
          }
          sb.append(']');
          return;
        }
      case MAP:
        {
          Types.MapType mt = type.asMapType();
          sb.append('{');
          boolean first = true;
          for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
            if (!first) {
              sb.append(", ");
            }
            first = false;
            jsonString(sb, e.getKey() == null ? "null" : scalarOrJson(mt.keyType(), e.getKey()));
            sb.append(": ");
            appendJson(sb, mt.valueType(), e.getValue());
          }
          sb.append('}');
          return;
        }
      case BOOLEAN:
      case INTEGER:
      case LONG:
      case DECIMAL:
        sb.append(scalar(type, v));
        return;
      case FLOAT:
      case DOUBLE:
        {
          String s = scalar(type, v);
          if (s.equals("NaN") || s.endsWith("Infinity")) {
            jsonString(sb, s);
          } else {
            sb.append(s);
          }
          return;
        }
      default:
        jsonString(sb, scalar(type, v));
    }
  }

  private static String scalarOrJson(Type type, Object v) {
    return type.isPrimitiveType() ? scalar(type, v) : json(type, v);
  }

  static void jsonString(StringBuilder sb, String s) {
    sb.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      switch (c) {
        case '"':
          sb.append("\\\"");
          break;
        case '\\':
          sb.append("\\\\");
          break;
        case '\b':
          sb.append("\\b");
          break;
        case '\f':
          sb.append("\\f");
          break;
        case '\n':
          sb.append("\\n");
          break;
        case '\r':
          sb.append("\\r");
          break;
        case '\t':
          sb.append("\\t");
          break;
        default:
          if (c < 0x20) {
            sb.append(String.format("\\u%04x", (int) c));
          } else {
            sb.append(c);
          }
      }
    }
    sb.append('"');
  }

  static String jsonString(String s) {
    StringBuilder sb = new StringBuilder();
    jsonString(sb, s);
    return sb.toString();
  }
}
