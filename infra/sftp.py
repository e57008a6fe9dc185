"""An AWS Transfer Family SFTP server, for districts whose SIS can only upload over SFTP.

Switched on by `deployment.sftp_enabled` in the tenants file (off by default: the server is
billed for every hour it exists). Each district with an `sftp_user` gets a user whose root
directory is its own drop folder (`incoming/<id>/`): a file put there is an object in that
folder, and the pipeline takes it from there. Users log in with SSH keys added after
deployment (`aws transfer import-ssh-public-key`); the stack holds no key.
"""

from aws_cdk import Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_transfer as transfer
from constructs import Construct

from cers_groups.tenants import District, Tenants
from infra.nag import suppress
from infra.security import S3_WRITE_KEY_ACTIONS, logical_id

SERVER_ID = "SftpServer"
USER_PREFIX = "SftpUser"
USER_ROLE_PREFIX = "SftpUserRole"
# The newest Transfer Family policy: only current ciphers, key exchanges and MACs.
SECURITY_POLICY = "TransferSecurityPolicy-2024-01"


class SftpAccess(Construct):
    """The server, its logging, and one user (and role) per district with an sftp_user."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        tenants: Tenants,
        bucket: s3.IBucket,
        key: kms.IKey,
        log_retention: logs.RetentionDays,
        construct_suffix: dict[str, str],
    ) -> None:
        super().__init__(scope, id_)
        self.log_group = logs.LogGroup(self, "Logs", retention=log_retention)
        logging_role = iam.Role(
            self,
            "LoggingRole",
            assumed_by=iam.ServicePrincipal(
                "transfer.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            ),
            description="Transfer Family writes the SFTP server's logs",
        )
        self.log_group.grant_write(logging_role)
        self.server = transfer.CfnServer(
            self,
            SERVER_ID,
            domain="S3",
            endpoint_type="PUBLIC",
            identity_provider_type="SERVICE_MANAGED",
            protocols=["SFTP"],
            security_policy_name=SECURITY_POLICY,
            logging_role=logging_role.role_arn,
            structured_log_destinations=[self.log_group.log_group_arn],
        )
        self.users = {
            district.id: self._user(district, bucket, key, construct_suffix[district.id])
            for district in tenants.districts
            if district.sftp_user
        }

    @property
    def server_id(self) -> str:
        return self.server.attr_server_id

    def _user(
        self, district: District, bucket: s3.IBucket, key: kms.IKey, suffix: str
    ) -> transfer.CfnUser:
        role = self._user_role(district, bucket, key, suffix)
        user = transfer.CfnUser(
            self,
            f"{USER_PREFIX}{suffix}",
            server_id=self.server_id,
            user_name=district.sftp_user,
            role=role.role_arn,
            home_directory_type="LOGICAL",
            home_directory_mappings=[
                transfer.CfnUser.HomeDirectoryMapEntryProperty(
                    entry="/", target=f"/{bucket.bucket_name}/{district.prefix.rstrip('/')}"
                )
            ],
        )
        return user

    def _user_role(
        self, district: District, bucket: s3.IBucket, key: kms.IKey, suffix: str
    ) -> iam.Role:
        """Put files in the district's folder and list it; never read a file back."""
        stack = Stack.of(self)
        # Transfer Family assumes a user's role as that user: arn:...:user/<server id>/<name>.
        user_arns = stack.format_arn(
            service="transfer", resource="user", resource_name=f"{self.server_id}/*"
        )
        role = iam.Role(
            self,
            f"{USER_ROLE_PREFIX}{suffix}",
            assumed_by=iam.ServicePrincipal(
                "transfer.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": user_arns},
                },
            ),
            description=f"SFTP user of district {district.id}: put files in {district.prefix}",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="ListOwnFolder",
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [district.prefix, f"{district.prefix}*"]}},
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="PutRosters",
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{district.prefix}*")],
            )
        )
        role.add_to_policy(
            iam.PolicyStatement(
                sid="EncryptRostersThroughS3",
                actions=S3_WRITE_KEY_ACTIONS,
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
            )
        )
        suppress(
            role,
            "IAM5",
            "An SFTP upload may have any file name, so PutObject needs every key under the "
            "district's own folder; nothing outside that folder is writable.",
            applies_to=[f"Resource::<{logical_id(bucket)}.Arn>/{district.prefix}*"],
        )
        return role
