package dev.pg2iceberg.tools;

import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.Map;

/** Minimal pretty JSON writer (Maps keep insertion order; Raw embeds JSON text as is). */
final class Json {
  private Json() {}

  /** Already-serialised JSON, embedded verbatim (re-indented). */
  static final class Raw {
    final String text;

    Raw(String text) {
      this.text = text;
    }
  }

  static Map<String, Object> obj() {
    return new LinkedHashMap<>();
  }

  static String write(Object v) {
    StringBuilder sb = new StringBuilder();
    write(sb, v, 0);
    return sb.toString();
  }

  private static void indent(StringBuilder sb, int n) {
    sb.append('\n');
    for (int i = 0; i < n; i++) {
      sb.append("  ");
    }
  }

  private static void write(StringBuilder sb, Object v, int depth) {
    if (v == null) {
      sb.append("null");
    } else if (v instanceof Raw) {
      sb.append(((Raw) v).text.strip().replace("\n", "\n" + "  ".repeat(depth)));
    } else if (v instanceof Boolean || v instanceof Integer || v instanceof Long) {
      sb.append(v);
    } else if (v instanceof Map) {
      Map<?, ?> m = (Map<?, ?>) v;
      if (m.isEmpty()) {
        sb.append("{}");
        return;
      }
      sb.append('{');
      boolean first = true;
      for (Map.Entry<?, ?> e : m.entrySet()) {
        if (!first) {
          sb.append(',');
        }
        first = false;
        indent(sb, depth + 1);
        Render.jsonString(sb, String.valueOf(e.getKey()));
        sb.append(": ");
        write(sb, e.getValue(), depth + 1);
      }
      indent(sb, depth);
      sb.append('}');
    } else if (v instanceof Collection) {
      Collection<?> c = (Collection<?>) v;
      if (c.isEmpty()) {
        sb.append("[]");
        return;
      }
      sb.append('[');
      boolean first = true;
      for (Object e : c) {
        if (!first) {
          sb.append(',');
        }
        first = false;
        indent(sb, depth + 1);
        write(sb, e, depth + 1);
      }
      indent(sb, depth);
      sb.append(']');
    } else {
      Render.jsonString(sb, v.toString());
    }
  }
}
