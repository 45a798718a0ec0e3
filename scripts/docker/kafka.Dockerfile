# Kafka broker jars on the local JRE; see test-images.sh. The test setup copies server.properties to
# /etc/kafka/server.properties, sets KAFKA_JVM_FLAGS (the local stack's) and runs
# `kafka-start <cluster id>`: format the storage, then the broker.
ARG JRE=risk-hub-local/jre:21
FROM ${JRE}
COPY libs /opt/kafka/libs
RUN mkdir -p /etc/kafka /var/lib/kafka \
 && printf '%s\n' 'status = warn' 'appender.out.type = Console' 'appender.out.name = OUT' \
      'appender.out.layout.type = PatternLayout' 'appender.out.layout.pattern = [%d] %p %m (%c)%n' \
      'rootLogger.level = info' 'rootLogger.appenderRef.out.ref = OUT' \
      'logger.kafka.name = kafka' 'logger.kafka.level = warn' 'logger.org.name = org.apache.kafka' 'logger.org.level = warn' \
      > /etc/kafka/log4j2.properties \
 && printf '%s\n' '#!/bin/bash' 'set -euo pipefail' \
      'jvm=(${KAFKA_JVM_FLAGS:-} -Dlog4j2.configurationFile=/etc/kafka/log4j2.properties -cp "/opt/kafka/libs/*")' \
      'java "${jvm[@]}" kafka.tools.StorageTool format -t "$1" -c /etc/kafka/server.properties' \
      'exec java "${jvm[@]}" kafka.Kafka /etc/kafka/server.properties' > /usr/local/bin/kafka-start \
 && chmod 755 /usr/local/bin/kafka-start
ENTRYPOINT ["/usr/local/bin/kafka-start"]
