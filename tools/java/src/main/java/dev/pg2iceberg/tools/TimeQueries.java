package dev.pg2iceberg.tools;

import java.io.IOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.iceberg.Table;
import org.apache.iceberg.data.IcebergGenerics;
import org.apache.iceberg.data.Record;
import org.apache.iceberg.expressions.Expressions;
import org.apache.iceberg.io.CloseableIterable;

/**
 * Query timings for benchmarks (bench/delete_modes_bench.sh): with Iceberg Java's generic
 * reader (all deletes applied), the median time of `count(*)` and of a point lookup on a key,
 * in one JVM so that its start-up is not measured.
 *
 * <p>Usage: TimeQueries SOURCE --table NS.NAME --key COLUMN --probe VALUE [--runs N]; SOURCE
 * as for ReadTable. Prints JSON: rows, count_ms, point_rows, point_ms.
 */
public final class TimeQueries {
  private TimeQueries() {}

  public static void main(String[] args) {
    ReadTable.runTool("TimeQueries", TimeQueries::run, args);
  }

  static int run(String[] args) throws IOException {
    String key = "id";
    String probe = null;
    int runs = 3;
    List<String> rest = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--key") && i + 1 < args.length) {
        key = args[++i];
      } else if (args[i].equals("--probe") && i + 1 < args.length) {
        probe = args[++i];
      } else if (args[i].equals("--runs") && i + 1 < args.length) {
        runs = Integer.parseInt(args[++i]);
      } else {
        rest.add(args[i]);
      }
    }
    if (probe == null) {
      throw new ReadTable.UsageException("--probe is required");
    }
    ReadTable.Options o = ReadTable.Options.parse(rest.toArray(new String[0]));
    try (ReadTable.Opened opened = ReadTable.open(o)) {
      Table table = opened.table;
      Object probeValue = Long.parseLong(probe);
      if (table.schema().findType(key).typeId() == org.apache.iceberg.types.Type.TypeID.INTEGER) {
        probeValue = Integer.parseInt(probe);
      }
      long rows = 0;
      long pointRows = 0;
      List<Double> count = new ArrayList<>();
      List<Double> point = new ArrayList<>();
      for (int r = 0; r < runs; r++) {
        long t0 = System.nanoTime();
        long n = 0;
        try (CloseableIterable<Record> it = IcebergGenerics.read(table).select(key).build()) {
          for (Record ignored : it) {
            n++;
          }
        }
        count.add((System.nanoTime() - t0) / 1e6);
        rows = n;
        t0 = System.nanoTime();
        n = 0;
        try (CloseableIterable<Record> it =
            IcebergGenerics.read(table).where(Expressions.equal(key, probeValue)).build()) {
          for (Record rec : it) {
            if (probeValue.equals(rec.getField(key))) {
              n++;
            }
          }
        }
        point.add((System.nanoTime() - t0) / 1e6);
        pointRows = n;
      }
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("rows", rows);
      out.put("count_ms", median(count));
      out.put("point_rows", pointRows);
      out.put("point_ms", median(point));
      System.out.println(Json.write(out));
    }
    return 0;
  }

  static double median(List<Double> xs) {
    List<Double> s = new ArrayList<>(xs);
    Collections.sort(s);
    return s.get(s.size() / 2);
  }
}
