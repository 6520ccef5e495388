package org.cibdetect.neo4j;

import java.io.IOException;
import java.io.Reader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.neo4j.cli.ExecutionContext;
import org.neo4j.commandline.admin.security.SetInitialPasswordCommand;
import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.config.Setting;
import org.neo4j.io.ByteUnit;
import org.neo4j.logging.Level;
import org.neo4j.logging.log4j.Log4jLogProvider;
import picocli.CommandLine;

/**
 * Runs a Neo4j Community DBMS in this JVM with only a Bolt connector on 127.0.0.1.
 *
 * <p>Usage: {@code Launcher <home> <bolt-port> [default-database]}. The password of user
 * {@code neo4j} is set from {@code CIB_NEO4J__PASSWORD} (default {@code cib-detect-local}) before
 * the first start, exactly as {@code neo4j-admin dbms set-initial-password} does; later starts keep
 * whatever password the system database holds. SIGTERM/SIGINT shut the DBMS down cleanly.
 *
 * <p>Settings in {@code <home>/conf/neo4j.conf}, when that file exists, apply as in a packaged
 * Neo4j, except the ones this launcher fixes: the listen addresses, the connectors and
 * authentication. Its other settings (a 512 MiB page cache, no pre-allocated and at most 1G of
 * transaction logs, no usage reports, a short Bolt shutdown) are defaults the file overrides.
 */
public final class Launcher {
    private static final String HOST = "127.0.0.1";
    private static final String CONF = "conf/neo4j.conf";

    private Launcher() {}

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: Launcher <home> <bolt-port> [default-database]");
            System.exit(64);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        int port = Integer.parseInt(args[1]);
        String password = System.getenv().getOrDefault("CIB_NEO4J__PASSWORD", "cib-detect-local");

        boolean firstStart = !Files.exists(home.resolve("data/databases/system"));
        if (firstStart) {
            ExecutionContext ctx = new ExecutionContext(home, home.resolve("conf"));
            int rc = new CommandLine(new SetInitialPasswordCommand(ctx)).execute(password);
            if (rc != 0) {
                System.out.println("NEO4J FAILED could not set the initial password (exit " + rc + ")");
                System.exit(2);
            }
        }

        Path conf = home.resolve(CONF);
        Properties fromFile = readConf(conf);
        DatabaseManagementServiceBuilder builder = new DatabaseManagementServiceBuilder(home);
        if (Files.exists(conf)) {
            builder.loadPropertiesFromFile(conf);
        }
        builder
                .setUserLogProvider(new Log4jLogProvider(System.out, Level.INFO))
                .setConfig(GraphDatabaseSettings.default_listen_address, new SocketAddress(HOST))
                .setConfig(GraphDatabaseSettings.default_advertised_address, new SocketAddress(HOST))
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress(HOST, port))
                .setConfig(BoltConnector.advertised_address, new SocketAddress(HOST, port))
                .setConfig(HttpConnector.enabled, false)
                .setConfig(HttpsConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, true);
        setDefault(builder, fromFile, GraphDatabaseSettings.pagecache_memory, ByteUnit.mebiBytes(512));
        setDefault(builder, fromFile, GraphDatabaseSettings.udc_enabled, false);
        // A local dev store: no 256 MiB pre-allocated tx log per database, bounded retention.
        setDefault(builder, fromFile, GraphDatabaseSettings.preallocate_logical_logs, false);
        setDefault(builder, fromFile, GraphDatabaseSettings.keep_logical_logs, "1G size");
        // Bolt's Netty loop waits 5 s of quiet per connector on shutdown; 1 s is plenty.
        setDefault(builder, fromFile, GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 1);
        if (args.length > 2 && firstStart) {
            builder.setConfig(GraphDatabaseSettings.initial_default_database, args[2]);
        }

        DatabaseManagementService dbms;
        try {
            dbms = builder.build();
        } catch (RuntimeException e) {
            System.out.println("NEO4J FAILED " + e);
            e.printStackTrace(System.out);
            System.exit(1);
            return;
        }

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("NEO4J STOPPING");
            System.out.flush();
            try {
                dbms.shutdown();
                System.out.println("NEO4J STOPPED");
            } finally {
                System.out.flush();
                stopped.countDown();
            }
        }, "cib-neo4j-shutdown"));

        for (String name : dbms.listDatabases()) {
            if (!dbms.database(name).isAvailable(TimeUnit.MINUTES.toMillis(5))) {
                System.out.println("NEO4J FAILED database " + name + " is not available");
                System.exit(1);
            }
        }
        System.out.println("NEO4J READY bolt://" + HOST + ":" + port);
        System.out.flush();
        stopped.await();
    }

    /** Sets {@code setting} to {@code value} unless the conf file sets it. */
    private static <T> void setDefault(
            DatabaseManagementServiceBuilder builder, Properties fromFile, Setting<T> setting, T value) {
        if (!fromFile.containsKey(setting.name())) {
            builder.setConfig(setting, value);
        }
    }

    /** The keys and values of a neo4j.conf file (empty when there is none). */
    private static Properties readConf(Path conf) throws IOException {
        Properties props = new Properties();
        if (Files.exists(conf)) {
            try (Reader reader = Files.newBufferedReader(conf)) {
                props.load(reader);
            }
        }
        return props;
    }
}
