package dev.riskhub.agent.spring;

import java.time.Duration;
import java.util.List;
import org.springframework.boot.context.properties.ConfigurationProperties;

/**
 * {@code riskhub.*}: the agent's options in a Spring Boot application. Unset ones keep the agent's
 * defaults, or the RISK_HUB_* environment variables (RISK_HUB_APPLICATION, RISK_HUB_ENVIRONMENT,
 * RISK_HUB_RELAY_URL, RISK_HUB_RELAY_TOKEN).
 */
@ConfigurationProperties(prefix = "riskhub")
public class RiskHubProperties {
  /** false: no agent, no filter. */
  private boolean enabled = true;
  private String applicationId;
  private String environment;
  private String relayUrl;
  private String token;
  private Integer maxQueue;
  private Integer batchSize;
  private Duration lingerTime;
  private Duration httpTimeout;
  private Duration shutdownTimeout;
  private Duration decisionsInterval;
  private Boolean enforce;
  /** The filter's order: after Spring Security's filter chain (-100), so that the user is known. */
  private int filterOrder = -90;
  private List<String> urlPatterns = List.of("/*");

  public boolean isEnabled() { return enabled; }
  public void setEnabled(boolean v) { enabled = v; }
  public String getApplicationId() { return applicationId; }
  public void setApplicationId(String v) { applicationId = v; }
  public String getEnvironment() { return environment; }
  public void setEnvironment(String v) { environment = v; }
  public String getRelayUrl() { return relayUrl; }
  public void setRelayUrl(String v) { relayUrl = v; }
  public String getToken() { return token; }
  public void setToken(String v) { token = v; }
  public Integer getMaxQueue() { return maxQueue; }
  public void setMaxQueue(Integer v) { maxQueue = v; }
  public Integer getBatchSize() { return batchSize; }
  public void setBatchSize(Integer v) { batchSize = v; }
  public Duration getLingerTime() { return lingerTime; }
  public void setLingerTime(Duration v) { lingerTime = v; }
  public Duration getHttpTimeout() { return httpTimeout; }
  public void setHttpTimeout(Duration v) { httpTimeout = v; }
  public Duration getShutdownTimeout() { return shutdownTimeout; }
  public void setShutdownTimeout(Duration v) { shutdownTimeout = v; }
  public Duration getDecisionsInterval() { return decisionsInterval; }
  public void setDecisionsInterval(Duration v) { decisionsInterval = v; }
  public Boolean getEnforce() { return enforce; }
  public void setEnforce(Boolean v) { enforce = v; }
  public int getFilterOrder() { return filterOrder; }
  public void setFilterOrder(int v) { filterOrder = v; }
  public List<String> getUrlPatterns() { return urlPatterns; }
  public void setUrlPatterns(List<String> v) { urlPatterns = v; }
}
