# A Java runtime (jlink output) on the local Debian base; see test-images.sh.
FROM risk-hub-local/debian:bookworm
COPY jre /opt/java
ENV JAVA_HOME=/opt/java PATH=/opt/java/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
RUN java -version
