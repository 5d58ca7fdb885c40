package dev.pg2iceberg.tools;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.apache.iceberg.DataFile;
import org.apache.iceberg.DeleteFile;
import org.apache.iceberg.FileFormat;
import org.apache.iceberg.FileScanTask;
import org.apache.iceberg.PartitionKey;
import org.apache.iceberg.RewriteFiles;
import org.apache.iceberg.Snapshot;
import org.apache.iceberg.StructLike;
import org.apache.iceberg.Table;
import org.apache.iceberg.data.GenericFileWriterFactory;
import org.apache.iceberg.data.IcebergGenerics;
import org.apache.iceberg.data.InternalRecordWrapper;
import org.apache.iceberg.data.Record;
import org.apache.iceberg.encryption.EncryptedFiles;
import org.apache.iceberg.io.CloseableIterable;
import org.apache.iceberg.io.DataWriter;
import org.apache.iceberg.util.StructLikeMap;

/**
 * Another writer on a table pg2iceberg writes, for tests: does what Spark's rewrite_data_files
 * does to it, with Iceberg Java's own manifests (a day() partition value is an Avro int with
 * logicalType "date" there). Reads the live rows (deletes applied), writes one data file per
 * partition, and commits a rewrite that replaces every data and delete file, keeping the data
 * sequence number of the snapshot read (so a delete committed meanwhile still applies). Then
 * sets commit.manifest.min-count-to-merge (--min-merge N) so the next writer merges manifests.
 *
 * <p>Usage: RewriteDataFiles SOURCE --table NS.NAME [--min-merge N]; SOURCE as for ReadTable.
 * Prints the number of files replaced and written.
 */
public final class RewriteDataFiles {
  private RewriteDataFiles() {}

  public static void main(String[] args) {
    ReadTable.runTool("RewriteDataFiles", RewriteDataFiles::run, args);
  }

  static int run(String[] args) throws IOException {
    String minMerge = null;
    List<String> rest = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--min-merge") && i + 1 < args.length) {
        minMerge = args[++i];
      } else {
        rest.add(args[i]);
      }
    }
    ReadTable.Options o = ReadTable.Options.parse(rest.toArray(new String[0]));
    try (ReadTable.Opened opened = ReadTable.open(o)) {
      Table table = opened.table;
      Snapshot snapshot = table.currentSnapshot();
      if (snapshot == null) {
        throw new IllegalStateException("table " + table.name() + " has no snapshot");
      }
      Set<DataFile> oldData = new HashSet<>();
      Set<DeleteFile> oldDeletes = new HashSet<>();
      try (CloseableIterable<FileScanTask> tasks =
          table.newScan().useSnapshot(snapshot.snapshotId()).planFiles()) {
        for (FileScanTask t : tasks) {
          oldData.add(t.file());
          oldDeletes.addAll(t.deletes());
        }
      }
      // Live rows by partition of the current spec.
      InternalRecordWrapper wrapper = new InternalRecordWrapper(table.schema().asStruct());
      PartitionKey key = new PartitionKey(table.spec(), table.schema());
      Map<StructLike, List<Record>> byPartition = StructLikeMap.create(table.spec().partitionType());
      Map<StructLike, PartitionKey> keys = StructLikeMap.create(table.spec().partitionType());
      try (CloseableIterable<Record> rows =
          IcebergGenerics.read(table).useSnapshot(snapshot.snapshotId()).build()) {
        for (Record r : rows) {
          key.partition(wrapper.wrap(r));
          List<Record> list = byPartition.get(key);
          if (list == null) {
            PartitionKey copy = key.copy();
            list = new ArrayList<>();
            byPartition.put(copy, list);
            keys.put(copy, copy);
          }
          list.add(r.copy());
        }
      }
      GenericFileWriterFactory writers =
          new GenericFileWriterFactory.Builder(table).dataFileFormat(FileFormat.PARQUET).build();
      Set<DataFile> newData = new HashSet<>();
      for (Map.Entry<StructLike, List<Record>> e : byPartition.entrySet()) {
        String path = table.location() + "/data/rewritten-" + UUID.randomUUID() + ".parquet";
        DataWriter<Record> w =
            writers.newDataWriter(
                EncryptedFiles.plainAsEncryptedOutput(table.io().newOutputFile(path)),
                table.spec(),
                table.spec().isPartitioned() ? keys.get(e.getKey()) : null);
        try (w) {
          for (Record r : e.getValue()) {
            w.write(r);
          }
        }
        newData.add(w.toDataFile());
      }
      RewriteFiles rewrite =
          table
              .newRewrite()
              .validateFromSnapshot(snapshot.snapshotId())
              .dataSequenceNumber(snapshot.sequenceNumber());
      for (DataFile f : oldData) {
        rewrite.deleteFile(f);
      }
      for (DeleteFile f : oldDeletes) {
        rewrite.deleteFile(f);
      }
      for (DataFile f : newData) {
        rewrite.addFile(f);
      }
      rewrite.commit();
      if (minMerge != null) {
        table.updateProperties().set("commit.manifest.min-count-to-merge", minMerge).commit();
      }
      Map<String, Object> out = new LinkedHashMap<>();
      out.put("data-files-replaced", oldData.size());
      out.put("delete-files-replaced", oldDeletes.size());
      out.put("data-files-written", newData.size());
      System.out.println(Json.write(out));
    }
    return 0;
  }
}
